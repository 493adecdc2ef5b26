import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, call } from '../api/client';
import type { PolicyOut, SimulatedStage, StageOut } from '../api/types';
import { useIsAdmin } from '../auth/AuthProvider';
import { TextField } from '../components/Field';
import { JsonTextarea } from '../components/JsonTextarea';
import { Time } from '../components/Time';
import { Badge, ErrorBanner, JsonView, Loading, Section } from '../components/ui';
import { checkOptionalJson } from '../lib/jsonfield';
import { groupStages, ruleValueText } from '../lib/policyView';
import { ActivationButtons } from './policyActions';

export function usePolicyVersion(key: string, version: number) {
  return useQuery({
    queryKey: ['policy', key, 'v', version],
    queryFn: () => call(api.GET('/v1/awe/policies/{policy_key}/versions/{version}', { params: { path: { policy_key: key, version } } })),
    enabled: Number.isInteger(version) && version >= 1,
  });
}

export default function PolicyView() {
  const { key = '', version: v = '' } = useParams();
  const version = Number(v);
  const admin = useIsAdmin();
  const q = usePolicyVersion(key, version);
  const versions = useQuery({ queryKey: ['policy', key, 'versions'], queryFn: () => call(api.GET('/v1/awe/policies/{policy_key}/versions', { params: { path: { policy_key: key } } })) });
  const active = versions.data?.find((x) => x.status === 'active')?.version ?? null;
  const enc = encodeURIComponent(key);
  const p = q.data;
  return (
    <>
      <p className="crumbs">
        <Link to="/policies">Policies</Link> / <Link to={`/policies/${enc}`}>{key}</Link> /
      </p>
      <ErrorBanner error={q.error} />
      {q.isPending && <Loading />}
      {p && (
        <>
          <div className="page-head">
            <h1>
              {p.name} <span className="muted">({p.policy_key} v{p.version})</span> <Badge value={p.status} />
            </h1>
            {admin && (
              <div className="row-actions">
                <Link to={`/policies/${enc}/v/${p.version}/edit`} className="button">
                  {p.status === 'draft' ? 'Edit draft' : 'New version from this'}
                </Link>
                <ActivationButtons policyKey={p.policy_key} version={p.version} status={p.status} activeVersion={active} />
              </div>
            )}
          </div>
          <PolicySummary policy={p} />
          <Simulate policy={p} />
          <Section title="Raw JSON">
            <details>
              <summary>Show the policy as the API returns it</summary>
              <JsonView value={p} label="Policy JSON" />
            </details>
          </Section>
        </>
      )}
    </>
  );
}

function PolicySummary({ policy: p }: { policy: PolicyOut }) {
  const groups = groupStages(p.stages);
  return (
    <>
      <Section title="Settings">
        <dl className="facts">
          <dt>Artifact type</dt>
          <dd>{p.artifact_type}</dd>
          <dt>Description</dt>
          <dd>{p.description || <span className="muted">none</span>}</dd>
          <dt>Forbid self-approval</dt>
          <dd>{p.forbid_self_approval ? 'Yes: the requester never approves their own request' : 'No'}</dd>
          <dt>Forbid repeat approvers</dt>
          <dd>{p.forbid_repeat_approvers ? 'Yes: who approved an earlier stage is not asked again' : 'No'}</dd>
          <dt>Created</dt>
          <dd>
            <Time value={p.created_at} /> by {p.created_by}
          </dd>
          <dt>Updated</dt>
          <dd>
            <Time value={p.updated_at} />
          </dd>
        </dl>
      </Section>
      <ContextContract policy={p} />
      <Section title={`Stages (${p.stages.length})`}>
        <ol className="groups">
          {groups.map((g, i) => (
            <li key={i} className="group">
              <h3>
                Step {i + 1}
                {g.parallelGroup !== null ? ` · parallel group ${g.parallelGroup} (${g.stages.length} stages run together)` : ''}
              </h3>
              <div className="group-stages">
                {g.stages.map((s) => (
                  <StageCard key={s.id} stage={s} />
                ))}
              </div>
            </li>
          ))}
        </ol>
      </Section>
    </>
  );
}

function modeText(s: { mode: string; mode_value?: number | null }): string {
  switch (s.mode) {
    case 'all':
      return 'all approvers';
    case 'any-n':
    case 'quorum':
      return `${s.mode} (${s.mode_value ?? 1} approval${(s.mode_value ?? 1) === 1 ? '' : 's'})`;
    case 'percentage':
      return `percentage (${s.mode_value ?? 100}%)`;
    default:
      return s.mode;
  }
}

function StageCard({ stage: s }: { stage: StageOut }) {
  return (
    <article className="stage" aria-label={`Stage ${s.stage_order}: ${s.name}`}>
      <h4>
        {s.stage_order}. {s.name}
      </h4>
      <dl className="facts">
        <dt>Mode</dt>
        <dd>
          {modeText(s)} <span className="muted">(mode {s.mode}, mode_value {s.mode_value ?? 'none'})</span>
        </dd>
        <dt>SLA</dt>
        <dd>{s.sla_hours != null ? `${s.sla_hours} h` : 'none'}</dd>
        <dt>On breach</dt>
        <dd>{s.on_breach ?? 'none (notify)'}</dd>
        <dt>On empty</dt>
        <dd>{s.on_empty === 'skip' ? 'skip the stage when nobody resolves' : 'block: reject the request when nobody resolves'}</dd>
        <dt>Parallel group</dt>
        <dd>{s.parallel_group ?? 'none'}</dd>
        <dt>Skip if</dt>
        <dd>{s.skip_if ? <JsonView value={s.skip_if} label={`skip_if of stage ${s.stage_order}`} /> : 'never skipped'}</dd>
      </dl>
      <RulesTable title="Rules" rules={s.rules} />
      {s.escalation_rules.length > 0 && <RulesTable title="Escalation rules" rules={s.escalation_rules} />}
    </article>
  );
}

function RulesTable({ title, rules }: { title: string; rules: StageOut['rules'] }) {
  return (
    <table className="compact">
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col">Value</th>
          <th scope="col">Kind</th>
          <th scope="col">Required</th>
        </tr>
      </thead>
      <tbody>
        {rules.map((r) => (
          <tr key={r.id}>
            <td>{r.rule_type}</td>
            <td>
              <code className="wrap">{ruleValueText(r.rule_type, r.rule_value)}</code>
            </td>
            <td>{r.kind === 'observer' ? <Badge value="observer" label="observer" /> : 'approver'}</td>
            <td>{r.required ? 'required' : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What the version reads from a request's context and what it declares. */
function ContextContract({ policy: p }: { policy: PolicyOut }) {
  const reads = p.context_keys ?? [];
  const declared = Object.entries(p.expected_context ?? {});
  return (
    <Section title="Context">
      <dl className="facts">
        <dt>Reads</dt>
        <dd>
          <List items={reads} none="no context key (user, role, group and http rules only)" />
        </dd>
        <dt>Declared</dt>
        <dd>
          {p.expected_context == null ? (
            <span className="muted">nothing: a request's context is not checked</span>
          ) : (
            `${declared.length} key${declared.length === 1 ? '' : 's'}; a request whose context lacks a required key or has one of the wrong type is refused with 422`
          )}
        </dd>
      </dl>
      {declared.length > 0 && (
        <table aria-label="Expected context">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Type</th>
              <th scope="col">Required</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {declared.map(([key, spec]) => (
              <tr key={key}>
                <td>
                  <code>{key}</code>
                </td>
                <td>{Array.isArray(spec.type) ? spec.type.join(' or ') : spec.type}</td>
                <td>{spec.required === false ? 'optional' : 'required'}</td>
                <td>{spec.description ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Simulate({ policy }: { policy: PolicyOut }) {
  const [context, setContext] = useState('{\n  \n}');
  const [requester, setRequester] = useState('');
  const m = useMutation({
    mutationFn: (body: { context: Record<string, never>; requester: string | null }) =>
      call(api.POST('/v1/awe/policies/{policy_key}/versions/{version}/simulate', { params: { path: { policy_key: policy.policy_key, version: policy.version } }, body })),
  });
  const check = checkOptionalJson(context, true);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!check.ok) return;
    m.mutate({ context: (check.value ?? {}) as Record<string, never>, requester: requester.trim() || null });
  };
  const r = m.data;
  return (
    <Section title="Simulate">
      <form onSubmit={submit} aria-label="Simulate">
        <JsonTextarea label="Sample context (JSON object)" value={context} onChange={setContext} rows={6} objectOnly />
        <TextField label="Requester" value={requester} onChange={setRequester} placeholder="optional: shows self-approval removal" />
        <button type="submit" className="primary" disabled={!check.ok || m.isPending}>
          Simulate
        </button>
      </form>
      <ErrorBanner error={m.error} />
      {r && (
        <div className="simulation" aria-live="polite">
          <h3>Run order</h3>
          <ol>
            {r.groups.map((g, i) => (
              <li key={i}>{g.length > 1 ? `Stages ${g.join(', ')} together` : `Stage ${g[0]}`}</li>
            ))}
          </ol>
          {r.context_warnings.length > 0 && (
            <>
              <h3>Context</h3>
              <ul aria-label="Context warnings">
                {r.context_warnings.map((w) => (
                  <li key={w.key}>
                    <code>{w.key}</code>: {w.message}
                    {w.refused_on_create ? ' (POST /requests would be refused)' : ''}
                  </li>
                ))}
              </ul>
            </>
          )}
          {r.notes.length > 0 && (
            <>
              <h3>Notes</h3>
              <ul>
                {r.notes.map((n, i) => (
                  <li key={i}>{n}</li>
                ))}
              </ul>
            </>
          )}
          {r.stages.map((s) => (
            <SimulatedStageView key={s.stage_order} s={s} />
          ))}
          <details>
            <summary>Raw simulation JSON</summary>
            <JsonView value={r} label="Simulation JSON" />
          </details>
        </div>
      )}
    </Section>
  );
}

function List({ items, none = 'none' }: { items: readonly string[]; none?: string }) {
  return items.length ? <>{items.join(', ')}</> : <span className="muted">{none}</span>;
}

function SimulatedStageView({ s }: { s: SimulatedStage }) {
  return (
    <article className={`stage${s.skipped ? ' skipped' : ''}`} aria-label={`Simulated stage ${s.stage_order}`}>
      <h4>
        {s.stage_order}. {s.name} <span className="muted">(step {s.group_position}{s.parallel_group != null ? `, parallel group ${s.parallel_group}` : ''})</span>{' '}
        {s.skipped && <Badge value="skipped" label={`skipped: ${s.skip_reason ?? ''}`} />}
      </h4>
      <p>
        <strong>Outcome:</strong> {s.outcome}
      </p>
      <dl className="facts">
        <dt>Mode</dt>
        <dd>
          {modeText(s)} · {s.approvals_needed} approval{s.approvals_needed === 1 ? '' : 's'} needed
        </dd>
        <dt>Skip if</dt>
        <dd>{s.skip_if}</dd>
        <dt>On empty</dt>
        <dd>{s.on_empty}</dd>
        <dt>Approvers</dt>
        <dd>
          <List items={s.approvers} none="nobody" />
        </dd>
        <dt>Required</dt>
        <dd>
          <List items={s.required_approvers} />
        </dd>
        <dt>Observers</dt>
        <dd>
          <List items={s.observers} />
        </dd>
        <dt>Resolved (before delegation and segregation)</dt>
        <dd>
          <List items={s.resolved_approvers} none="nobody" />
        </dd>
        <dt>Delegations</dt>
        <dd>{s.delegated.length ? s.delegated.map((d) => `${d.from} → ${d.to}${d.chain.length > 2 ? ` (via ${d.chain.join(' → ')})` : ''}`).join('; ') : <span className="muted">none</span>}</dd>
        <dt>Segregation of duties</dt>
        <dd>{s.removed.length ? s.removed.map((x) => `${x.user} removed: ${x.reason}`).join('; ') : <span className="muted">nobody removed</span>}</dd>
      </dl>
      <table className="compact">
        <caption>Users per rule</caption>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Kind</th>
            <th scope="col">Users</th>
          </tr>
        </thead>
        <tbody>
          {s.rules.map((r) => (
            <tr key={r.rule_id}>
              <td>
                {r.rule_type} <code className="muted">{r.rule_id.slice(0, 8)}</code>
              </td>
              <td>
                {r.kind}
                {r.required ? ', required' : ''}
              </td>
              <td>
                <List items={r.users} none="nobody" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </article>
  );
}
