import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { api, call } from '../api/client';
import type { PolicyIn, PolicyOut, RuleType } from '../api/types';
import { useIsAdmin } from '../auth/AuthProvider';
import { CheckField, SelectField, TextField } from '../components/Field';
import { JsonTextarea } from '../components/JsonTextarea';
import { Picker } from '../components/Picker';
import { Empty, ErrorBanner, Loading } from '../components/ui';
import { ApiError, fieldMap, issuesAt } from '../lib/errors';
import { checkJson, pretty } from '../lib/jsonfield';
import {
  emptyPolicy,
  emptyRule,
  emptyStage,
  formFromPolicy,
  ON_BREACH,
  ON_EMPTY,
  policyFromForm,
  RULE_TYPES,
  STAGE_MODES,
  type PolicyForm,
  type RuleForm,
  type StageForm,
} from '../lib/policyForm';
import { usePolicyVersion } from './PolicyView';

type Target = { kind: 'create' } | { kind: 'patch'; key: string; version: number } | { kind: 'add-version'; key: string; from: number };

export default function PolicyEdit() {
  const { key, version } = useParams();
  const admin = useIsAdmin();
  const source = usePolicyVersion(key ?? '', key ? Number(version) : NaN);
  if (!admin) {
    return (
      <>
        <h1>{key ? `Edit ${key} v${version}` : 'New policy'}</h1>
        <Empty>Writing policies needs the AWE_ADMIN role; your account can read them.</Empty>
        {key && <Link to={`/policies/${encodeURIComponent(key)}/v/${version}`}>View this version</Link>}
      </>
    );
  }
  if (!key) return <Editor target={{ kind: 'create' }} initial={emptyPolicy()} />;
  if (source.error) return <ErrorBanner error={source.error} />;
  if (!source.data) return <Loading />;
  const p = source.data;
  const target: Target = p.status === 'draft' ? { kind: 'patch', key: p.policy_key, version: p.version } : { kind: 'add-version', key: p.policy_key, from: p.version };
  return <Editor key={`${p.policy_key}-${p.version}`} target={target} initial={formFromPolicy(p as never)} />;
}

function title(t: Target): string {
  if (t.kind === 'create') return 'New policy';
  if (t.kind === 'patch') return `Edit draft ${t.key} v${t.version}`;
  return `New version of ${t.key} (from v${t.from})`;
}

function Editor({ target, initial }: { target: Target; initial: PolicyForm }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [form, setForm] = useState<PolicyForm>(initial);
  const [tab, setTab] = useState<'form' | 'raw'>('form');
  const [raw, setRaw] = useState('');
  const converted = useMemo(() => policyFromForm(form), [form]);
  const problemsRef = useRef<HTMLDivElement>(null);

  const save = useMutation({
    mutationFn: async (body: PolicyIn): Promise<PolicyOut | undefined> => {
      if (target.kind === 'create') return call(api.POST('/v1/awe/policies', { body }));
      if (target.kind === 'patch') return call(api.PATCH('/v1/awe/policies/{policy_key}/versions/{version}', { params: { path: { policy_key: target.key, version: target.version } }, body }));
      return call(api.PUT('/v1/awe/policies/{policy_key}', { params: { path: { policy_key: target.key } }, body }));
    },
    onSuccess: (saved, body) => {
      void qc.invalidateQueries({ queryKey: ['policies'] });
      void qc.invalidateQueries({ queryKey: ['policy', body.policy_key] });
      const enc = encodeURIComponent(body.policy_key);
      navigate(saved?.version ? `/policies/${enc}/v/${saved.version}` : `/policies/${enc}`);
    },
  });

  // A refused save: bring its message into view (the fields carry theirs too).
  useEffect(() => {
    if (save.error) problemsRef.current?.focus();
  }, [save.error]);

  const serverFields = save.error instanceof ApiError ? fieldMap(save.error.fields) : new Map<string, string[]>();
  const errors = new Map<string, string[]>(converted.errors);
  for (const [k, v] of serverFields) errors.set(k, [...(errors.get(k) ?? []), ...v]);
  const at = (path: string, nested = false) => issuesAt(errors, path, nested);

  const switchTab = (next: 'form' | 'raw') => {
    if (next === 'raw') setRaw(pretty(converted.value));
    setTab(next);
  };
  const onRaw = (text: string) => {
    setRaw(text);
    const check = checkJson(text);
    if (check.ok && typeof check.value === 'object' && check.value !== null && !Array.isArray(check.value)) setForm(formFromPolicy(check.value as never));
  };
  const rawCheck = tab === 'raw' ? checkJson(raw) : null;
  const blocked = converted.errors.size > 0 || (rawCheck !== null && !rawCheck.ok);

  const setStage = (i: number, patch: Partial<StageForm>) => setForm((f) => ({ ...f, stages: f.stages.map((s, j) => (j === i ? { ...s, ...patch } : s)) }));
  const moveStage = (i: number, d: -1 | 1) =>
    setForm((f) => {
      const s = [...f.stages];
      const j = i + d;
      if (j < 0 || j >= s.length) return f;
      [s[i], s[j]] = [s[j], s[i]];
      return { ...f, stages: s };
    });

  return (
    <>
      <p className="crumbs">
        <Link to="/policies">Policies</Link> /{' '}
        {target.kind !== 'create' && (
          <>
            <Link to={`/policies/${encodeURIComponent(target.key)}`}>{target.key}</Link> /
          </>
        )}
      </p>
      <h1>{title(target)}</h1>
      <form
        aria-label="Policy editor"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!blocked) save.mutate(converted.value);
        }}
      >
        <div ref={problemsRef} tabIndex={-1} className="problems">
          <ErrorBanner error={save.error} title="The service refused the policy" />
          {errors.size > 0 && (
            <div className="error-summary">
              <h2>Problems ({[...errors.values()].flat().length})</h2>
              <ul>
                {[...errors].map(([path, msgs]) => msgs.map((m, i) => <li key={`${path}-${i}`}><code>{path || 'document'}</code>: {m}</li>))}
              </ul>
            </div>
          )}
        </div>
        <div role="tablist" aria-label="Editor view" className="tabs">
          <button type="button" role="tab" id="tab-form" aria-controls="panel-form" aria-selected={tab === 'form'} onClick={() => switchTab('form')}>
            Form
          </button>
          <button type="button" role="tab" id="tab-raw" aria-controls="panel-raw" aria-selected={tab === 'raw'} onClick={() => switchTab('raw')}>
            Raw JSON
          </button>
        </div>

        {tab === 'form' ? (
          <div role="tabpanel" id="panel-form" aria-labelledby="tab-form">
            <fieldset className="card">
              <legend>Policy</legend>
              <div className="grid2">
                <TextField label="Policy key" value={form.policy_key} disabled={target.kind !== 'create'} required errors={at('policy_key')} onChange={(v) => setForm({ ...form, policy_key: v })} />
                <TextField label="Name" value={form.name} required errors={at('name')} onChange={(v) => setForm({ ...form, name: v })} />
                <TextField label="Artifact type" value={form.artifact_type} required errors={at('artifact_type')} onChange={(v) => setForm({ ...form, artifact_type: v })} />
                <TextField label="Description" value={form.description} errors={at('description')} onChange={(v) => setForm({ ...form, description: v })} />
              </div>
              <fieldset>
                <legend>Segregation of duties</legend>
                <CheckField label="Forbid self-approval (the requester never approves)" checked={form.forbid_self_approval} onChange={(v) => setForm({ ...form, forbid_self_approval: v })} />
                <CheckField label="Forbid repeat approvers (who approved an earlier stage is not asked again)" checked={form.forbid_repeat_approvers} onChange={(v) => setForm({ ...form, forbid_repeat_approvers: v })} />
              </fieldset>
              <JsonTextarea
                label="Expected context (JSON object)"
                value={form.expected_context}
                rows={4}
                objectOnly
                hint={'Blank: the context is not checked. Otherwise every key the JSONLogic reads must be here, e.g. {"amount": {"type": "number"}, "note": {"type": "string", "required": false}}; a request whose context lacks a required key or has the wrong type is refused with 422.'}
                errors={at('expected_context', true)}
                onChange={(v) => setForm({ ...form, expected_context: v })}
              />
            </fieldset>
            <Messages messages={at('stages')} />
            {form.stages.map((s, i) => (
              <StageEditor
                key={i}
                index={i}
                stage={s}
                count={form.stages.length}
                at={at}
                onChange={(patch) => setStage(i, patch)}
                onMove={(d) => moveStage(i, d)}
                onRemove={() => setForm((f) => ({ ...f, stages: f.stages.filter((_, j) => j !== i) }))}
              />
            ))}
            <button type="button" onClick={() => setForm((f) => ({ ...f, stages: [...f.stages, emptyStage(Math.max(0, ...f.stages.map((s) => Number(s.stage_order) || 0)) + 1)] }))}>
              Add stage
            </button>
          </div>
        ) : (
          <div role="tabpanel" id="panel-raw" aria-labelledby="tab-raw">
            {converted.errors.size > 0 && <p className="warn-note">Some form fields hold invalid JSON; they show as null here until fixed.</p>}
            <JsonTextarea label="Policy document (JSON)" value={raw} onChange={onRaw} rows={28} required objectOnly hint="Edits here update the form as soon as the JSON is valid." />
          </div>
        )}

        <div className="actions sticky">
          <button type="submit" className="primary" disabled={blocked || save.isPending}>
            {save.isPending ? 'Saving…' : 'Save'}
          </button>
          <span className="muted">
            {target.kind === 'create' ? 'Creates version 1 as a draft.' : target.kind === 'patch' ? 'Replaces this draft.' : 'Creates a new draft version; the current versions are unchanged.'}
          </span>
        </div>
      </form>
    </>
  );
}

function Messages({ messages }: { messages: readonly string[] }) {
  if (!messages.length) return null;
  return (
    <ul className="field-errors" role="alert">
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

type At = (path: string, nested?: boolean) => string[];

function StageEditor({ index, stage: s, count, at, onChange, onMove, onRemove }: { index: number; stage: StageForm; count: number; at: At; onChange(p: Partial<StageForm>): void; onMove(d: -1 | 1): void; onRemove(): void }) {
  const p = `stages[${index}]`;
  const label = `Stage ${index + 1}${s.name ? ` (${s.name})` : ''}`;
  const setRule = (list: 'rules' | 'escalation_rules', j: number, patch: Partial<RuleForm>) => onChange({ [list]: s[list].map((r, k) => (k === j ? { ...r, ...patch } : r)) });
  return (
    <fieldset className="card stage-editor" aria-label={label}>
      <legend>{label}</legend>
      <div className="row-actions end">
        <button type="button" className="small" disabled={index === 0} aria-label={`Move ${label} up`} onClick={() => onMove(-1)}>
          Move up
        </button>
        <button type="button" className="small" disabled={index === count - 1} aria-label={`Move ${label} down`} onClick={() => onMove(1)}>
          Move down
        </button>
        <button type="button" className="small danger" aria-label={`Remove ${label}`} onClick={onRemove}>
          Remove stage
        </button>
      </div>
      <Messages messages={at(p)} />
      <div className="grid3">
        <TextField label="Stage name" value={s.name} required errors={at(`${p}.name`)} onChange={(v) => onChange({ name: v })} />
        <TextField label="Stage order" inputMode="numeric" value={s.stage_order} required errors={at(`${p}.stage_order`)} onChange={(v) => onChange({ stage_order: v })} />
        <TextField label="Parallel group" inputMode="numeric" value={s.parallel_group} errors={at(`${p}.parallel_group`)} hint="Stages with the same number run together." onChange={(v) => onChange({ parallel_group: v })} />
        <SelectField label="Mode" value={s.mode} options={STAGE_MODES.map((m) => ({ value: m, label: m }))} errors={at(`${p}.mode`)} onChange={(v) => onChange({ mode: v })} />
        <TextField
          label="Mode value"
          inputMode="numeric"
          value={s.mode_value}
          errors={at(`${p}.mode_value`)}
          hint={s.mode === 'percentage' ? 'Percent of approvers, 1–100 (default 100).' : s.mode === 'all' ? 'Not used by mode all.' : 'Approvals needed (default 1).'}
          onChange={(v) => onChange({ mode_value: v })}
        />
        <SelectField label="On empty" value={s.on_empty} options={ON_EMPTY.map((m) => ({ value: m, label: m === 'block' ? 'block (reject the request)' : 'skip the stage' }))} errors={at(`${p}.on_empty`)} onChange={(v) => onChange({ on_empty: v })} />
        <TextField label="SLA hours" inputMode="decimal" value={s.sla_hours} errors={at(`${p}.sla_hours`)} onChange={(v) => onChange({ sla_hours: v })} />
        <SelectField label="On breach" value={s.on_breach} options={[{ value: '' as const, label: 'default (notify)' }, ...ON_BREACH.map((m) => ({ value: m, label: m }))]} errors={at(`${p}.on_breach`)} onChange={(v) => onChange({ on_breach: v })} />
      </div>
      <JsonTextarea label="Skip if (JSONLogic)" value={s.skip_if} rows={3} hint="Blank: never skipped. Evaluated against the request context." errors={at(`${p}.skip_if`, true)} onChange={(v) => onChange({ skip_if: v })} />
      <RuleList title="Rules" stageLabel={label} path={`${p}.rules`} rules={s.rules} at={at} onRule={(j, patch) => setRule('rules', j, patch)} onChange={(rules) => onChange({ rules })} />
      <RuleList title="Escalation rules" stageLabel={label} path={`${p}.escalation_rules`} rules={s.escalation_rules} at={at} escalation onRule={(j, patch) => setRule('escalation_rules', j, patch)} onChange={(escalation_rules) => onChange({ escalation_rules })} />
    </fieldset>
  );
}

function RuleList({ title, stageLabel, path, rules, at, escalation, onRule, onChange }: { title: string; stageLabel: string; path: string; rules: RuleForm[]; at: At; escalation?: boolean; onRule(j: number, p: Partial<RuleForm>): void; onChange(r: RuleForm[]): void }) {
  return (
    <fieldset className="rules">
      <legend>{title}</legend>
      <Messages messages={at(path)} />
      {rules.length === 0 && <p className="muted">{escalation ? 'No escalation rules (needed when on breach is escalate).' : 'No rules.'}</p>}
      {rules.map((r, j) => {
        const rp = `${path}[${j}]`;
        const name = `${stageLabel} ${escalation ? 'escalation rule' : 'rule'} ${j + 1}`;
        return (
          <div className="rule" key={j} role="group" aria-label={name}>
            <SelectField label="Rule type" value={r.rule_type} options={RULE_TYPES.map((t) => ({ value: t, label: t }))} errors={at(`${rp}.rule_type`)} onChange={(v: RuleType) => onRule(j, { rule_type: v })} />
            <RuleValue rule={r} path={`${rp}.rule_value`} at={at} onChange={(patch) => onRule(j, patch)} />
            {!escalation && <SelectField label="Kind" value={r.kind} options={[{ value: 'approver', label: 'approver' }, { value: 'observer', label: 'observer (informed, no vote)' }]} onChange={(v) => onRule(j, { kind: v, required: v === 'observer' ? false : r.required })} />}
            <CheckField label="Required" checked={r.required} disabled={r.kind === 'observer'} onChange={(v) => onRule(j, { required: v })} />
            <button type="button" className="small danger" aria-label={`Remove ${name}`} onClick={() => onChange(rules.filter((_, k) => k !== j))}>
              Remove rule
            </button>
            <Messages messages={at(rp)} />
          </div>
        );
      })}
      <button type="button" className="small" onClick={() => onChange([...rules, emptyRule()])}>
        {escalation ? 'Add escalation rule' : 'Add rule'}
      </button>
    </fieldset>
  );
}

function RuleValue({ rule: r, path, at, onChange }: { rule: RuleForm; path: string; at: At; onChange(p: Partial<RuleForm>): void }) {
  const own = at(path);
  let body: ReactNode;
  switch (r.rule_type) {
    case 'user':
      body = <Picker kind="user" label="User id" value={r.user_id} required errors={[...own, ...at(`${path}.user_id`)]} onChange={(v) => onChange({ user_id: v })} />;
      break;
    case 'role':
      body = (
        <>
          <Picker kind="role" label="Role" value={r.role} client={r.client} required errors={[...own, ...at(`${path}.role`)]} onChange={(v) => onChange({ role: v })} />
          <Picker kind="client" label="Client (blank: realm role)" value={r.client} errors={at(`${path}.client`)} onChange={(v) => onChange({ client: v })} />
        </>
      );
      break;
    case 'group':
      body = <Picker kind="group" label="Group path" value={r.group} placeholder="/finance/approvers" required errors={[...own, ...at(`${path}.group`)]} onChange={(v) => onChange({ group: v })} />;
      break;
    case 'expression':
      body = <JsonTextarea label="Expression (JSONLogic giving a user id or a list)" value={r.logic} rows={3} required errors={[...own, ...at(`${path}.logic`, true)]} onChange={(v) => onChange({ logic: v })} />;
      break;
    case 'http':
      body = <TextField label="Resolver URL" type="url" value={r.url} required errors={[...own, ...at(`${path}.url`)]} onChange={(v) => onChange({ url: v })} />;
      break;
  }
  return <div className="rule-value">{body}</div>;
}
