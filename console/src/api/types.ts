// Short names for the generated schema types, plus the few shapes the
// OpenAPI document leaves open (the config envelope, a new secret's value).
import type { components } from './schema';

type S = components['schemas'];
export type PolicyIn = S['PolicyIn'];
export type PolicyOut = S['PolicyOut'];
export type PolicyVersionOut = S['PolicyVersionOut'];
export type StageIn = S['StageIn'];
export type StageOut = S['StageOut'];
export type RuleIn = S['RuleIn'];
export type RuleType = S['RuleType'];
export type RuleKind = S['RuleKind'];
export type StageMode = S['StageMode'];
export type OnBreach = S['OnBreach'];
export type OnEmpty = S['OnEmpty'];
export type PolicyStatus = S['PolicyStatus'];
export type RequestOut = S['RequestOut'];
export type StageProgress = S['StageProgress'];
export type TaskOut = S['TaskOut'];
export type PagedTasksOut = S['PagedTasksOut'];
export type EventOut = S['EventOut'];
export type DeliveryOut = S['DeliveryOut'];
export type DelegationOut = S['DelegationOut'];
export type DelegationIn = S['DelegationIn'];
export type AuditActionOut = S['AuditActionOut'];
export type SecretOut = S['SecretOut'];
export type SimulateOut = S['SimulateOut'];
export type SimulatedStage = S['SimulatedStage'];
export type ContextWarning = S['ContextWarning'];
export type ExpectedContext = S['ExpectedContext'];

/** Create and rotate answer with the secret itself, this once. */
export type SecretCreated = SecretOut & { secret?: string; command_id?: string };

export interface ConsoleConfig {
  auth_mode: 'dev' | 'oidc';
  issuer: string;
  client_id: string;
  service_version: string;
}

export type Overview = S['OverviewOut'];
export type DeliveryDetail = S['DeliveryDetailOut'];
export type DeliveryAttempt = S['AttemptOut'];
export type KcUser = S['KeycloakUserOut'];
export type KcClient = S['KeycloakClientOut'];
export type KcRole = S['KeycloakRoleOut'];
export type KcGroup = S['KeycloakGroupOut'];
