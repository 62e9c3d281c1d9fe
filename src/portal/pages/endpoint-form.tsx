/**
 * @module Add / edit endpoint: URL, description, events picked from the catalog by group
 * (or all events, wildcards and exclusions typed by hand), and the delivery options.
 */
import type { FC } from "hono/jsx";
import type { EventTypeRow } from "../../db/queries/event-types";
import { CIRCUIT_LIMITS, DEFAULT_CIRCUIT } from "../../domain/circuit";
import { DEFAULT_RETRY_SCHEDULE } from "../../domain/retry-schedule";
import type { FieldError } from "../../errors";
import { href } from "../context";
import type { EndpointFormValues } from "../forms";
import { FieldMessage, PostForm, Problems } from "../layout";
import { scheduleEntry } from "../words";

/** The `aria-describedby` of a control: its hint and, when it has one, its error. */
function describedBy(name: string, errors: FieldError[], hint: boolean): string | undefined {
  const ids = [hint ? `${name}-hint` : "", errors.some((e) => e.path === name) ? `${name}-error` : ""].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}

const invalidIf = (name: string, errors: FieldError[]) => (errors.some((e) => e.path === name) ? "true" : undefined);

/** Catalog types by group, named groups first, ungrouped last as "Other events". */
export function groupCatalog(types: readonly EventTypeRow[]): { group: string | null; types: EventTypeRow[] }[] {
  const groups = new Map<string | null, EventTypeRow[]>();
  for (const t of types) groups.set(t.group, [...(groups.get(t.group) ?? []), t]);
  return [...groups.entries()]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)))
    .map(([group, list]) => ({ group, types: list }));
}

/** A control's label and, when it has one, its hint (`${name}-hint`, for `describedBy`). */
const LabelHint: FC<{ name: string; label: string; hint?: string }> = ({ name, label, hint }) => (
  <>
    <label for={name}>{label}</label>
    {hint && (
      <span class="hint" id={`${name}-hint`}>
        {hint}
      </span>
    )}
  </>
);

const Select: FC<{ name: string; label: string; value: string; options: [string, string][]; hint?: string; errors: FieldError[] }> = ({ name, label, value, options, hint, errors }) => (
  <div class="row">
    <LabelHint name={name} label={label} hint={hint} />
    <select id={name} name={name} aria-describedby={describedBy(name, errors, !!hint)} aria-invalid={invalidIf(name, errors)}>
      {options.map(([v, text]) => (
        <option value={v} selected={v === value}>
          {text}
        </option>
      ))}
    </select>
    <FieldMessage id={`${name}-error`} name={name} errors={errors} />
  </div>
);

const Text: FC<{ name: string; label: string; value: string; hint?: string; errors: FieldError[]; type?: string; required?: boolean; inputmode?: "numeric"; autocomplete?: string }> = ({
  name,
  label,
  value,
  hint,
  errors,
  type = "text",
  required,
  inputmode,
  autocomplete,
}) => (
  <div class="row">
    <LabelHint name={name} label={label} hint={hint} />
    <input
      id={name}
      name={name}
      type={type}
      value={value}
      required={required}
      inputmode={inputmode}
      autocomplete={autocomplete ?? "off"}
      aria-describedby={describedBy(name, errors, !!hint)}
      aria-invalid={invalidIf(name, errors)}
    />
    <FieldMessage id={`${name}-error`} name={name} errors={errors} />
  </div>
);

const EventPicker: FC<{ values: EndpointFormValues; catalog: EventTypeRow[]; errors: FieldError[] }> = ({ values, catalog, errors }) => {
  const picked = new Set(values.types);
  const pickedGroups = new Set(values.groups);
  let n = 0;
  return (
    <fieldset aria-describedby={describedBy("events", errors, false)}>
      <legend>Events to send</legend>
      <FieldMessage id="events-error" name="events" errors={errors} />
      <label class="check">
        <input type="radio" name="events" value="all" id="events-all" checked={values.events === "all"} />
        <span>
          <strong>All events</strong>
          <span class="hint">Every event, including kinds added later.</span>
        </span>
      </label>
      <label class="check">
        <input type="radio" name="events" value="some" id="events-some" checked={values.events === "some"} />
        <span>
          <strong>Only the events I pick</strong>
        </span>
      </label>
      {catalog.length === 0 && <p class="muted">There are no event types in the catalog yet; type names or patterns below.</p>}
      {groupCatalog(catalog).map(({ group, types }) => (
        <fieldset>
          <legend>{group ?? "Other events"}</legend>
          {group !== null && (
            <label class="check">
              <input type="checkbox" name="groups" value={group} checked={pickedGroups.has(group)} data-picks />
              <span>Everything in {group}, including kinds added later</span>
            </label>
          )}
          {types.map((t) => {
            n += 1;
            return (
              <label class="check" for={`type-${n}`}>
                <input type="checkbox" id={`type-${n}`} name="types" value={t.name} checked={picked.has(t.name)} data-picks />
                <span>
                  <code>{t.name}</code>
                  {t.description && <span class="hint">{t.description}</span>}
                </span>
              </label>
            );
          })}
        </fieldset>
      ))}
      <Text
        name="patterns"
        label="Other events or patterns"
        value={values.patterns}
        hint="Optional. Names or wildcards such as vehicle.* (every event starting with vehicle.), separated by commas."
        errors={errors}
      />
      <Text name="exclude" label="Never send these" value={values.exclude} hint="Optional. Names or wildcards, separated by commas. These win over everything above." errors={errors} />
    </fieldset>
  );
};

/** The delivery options that are a plain choice (the form field is named as its value). */
const DELIVERY_SELECTS: { name: "format" | "signature" | "method" | "ordering"; label: string; options: [string, string][] }[] = [
  {
    name: "format",
    label: "Body format",
    options: [
      ["standard", "Standard JSON"],
      ["cloudevents", "CloudEvents 1.0"],
    ],
  },
  {
    name: "signature",
    label: "Signature",
    options: [
      ["standard", "Standard Webhooks (webhook-signature)"],
      ["hmac-sha256-hex", "Hex HMAC-SHA256 of the body"],
      ["timestamped-hex", "Timestamped hex HMAC-SHA256"],
    ],
  },
  {
    name: "method",
    label: "HTTP method",
    options: [
      ["POST", "POST"],
      ["PUT", "PUT"],
    ],
  },
  {
    name: "ordering",
    label: "Order",
    options: [
      ["none", "As fast as possible"],
      ["fifo", "One at a time, in order"],
    ],
  },
];

export const EndpointFormPage: FC<{
  mode: "create" | "edit";
  endpointId?: string;
  values: EndpointFormValues;
  catalog: EventTypeRow[];
  errors: FieldError[];
  detail?: string;
  storedAuth?: "bearer" | "basic" | null;
}> = ({ mode, endpointId, values, catalog, errors, detail, storedAuth }) => {
  const action = mode === "create" ? href("/endpoints") : href("/endpoints", endpointId!);
  const cancel = mode === "create" ? href() : href("/endpoints", endpointId!);
  const authOptions: [string, string][] = [
    ...(storedAuth ? ([["keep", `Keep the current ${storedAuth === "bearer" ? "token" : "user name and password"}`]] as [string, string][]) : []),
    ["", "None"],
    ["bearer", "Bearer token"],
    ["basic", "User name and password (Basic)"],
  ];
  return (
    <>
      <h1>{mode === "create" ? "Add an endpoint" : "Edit endpoint"}</h1>
      <Problems errors={errors} detail={detail} />
      <PostForm action={action} aria-label={mode === "create" ? "New endpoint" : "Endpoint settings"}>
        <section class="card">
          <Text
            name="url"
            label="Endpoint URL"
            type="url"
            value={values.url}
            required
            hint="The address on your system that should receive the webhooks, for example https://example.com/webhooks."
            errors={errors}
          />
          <Text name="description" label="Description" value={values.description} hint="Optional. A name that helps you recognise it." errors={errors} />
        </section>
        <section class="card">
          <EventPicker values={values} catalog={catalog} errors={errors} />
        </section>
        <section class="card">
          <h2>Delivery options</h2>
          <p class="muted">The defaults suit most receivers.</p>
          <div class="grid">
            {DELIVERY_SELECTS.map(({ name, label, options }) => (
              <Select name={name} label={label} value={values[name]} options={options} errors={errors} />
            ))}
            <Text name="rate_limit" label="Rate limit (per second)" type="number" inputmode="numeric" value={values.rateLimit} hint="Optional, 1 to 250. Empty for no limit." errors={errors} />
            <Text name="timeout_s" label="Timeout (seconds)" type="number" inputmode="numeric" value={values.timeoutS} hint="1 to 30." errors={errors} />
          </div>
          <Text
            name="retry_schedule"
            label="Retry schedule"
            value={values.retrySchedule}
            hint={`Waits before each retry, such as "30 s, 5 min, 2 h". Empty for the default (${DEFAULT_RETRY_SCHEDULE.map(scheduleEntry).join(", ")}); "none" for no retries.`}
            errors={errors}
          />
          <fieldset>
            <legend>When your system stops answering</legend>
            <Select
              name="circuit"
              label="Circuit breaker"
              hint="Pauses sending after several timeouts or failed connections in a row, instead of using up attempts, then tries one delivery again. Nothing is lost: waiting deliveries follow in order once your system answers."
              value={values.circuit}
              options={[
                ["on", "On (recommended)"],
                ["off", "Off: keep sending and retrying as usual"],
              ]}
              errors={errors}
            />
            <div class="grid">
              <Text
                name="circuit_open_after"
                label="Pause after this many timeouts in a row"
                type="number"
                inputmode="numeric"
                value={values.circuitOpenAfter}
                hint={`${CIRCUIT_LIMITS.openAfter.min} to ${CIRCUIT_LIMITS.openAfter.max}. Default ${DEFAULT_CIRCUIT.open_after}.`}
                errors={errors}
              />
              <Text
                name="circuit_cool_off_s"
                label="Wait before trying again (seconds)"
                type="number"
                inputmode="numeric"
                value={values.circuitCoolOffS}
                hint={`${CIRCUIT_LIMITS.coolOffS.min} to ${CIRCUIT_LIMITS.coolOffS.max}. Default ${DEFAULT_CIRCUIT.cool_off_s}. Doubles each time the try fails, up to an hour.`}
                errors={errors}
              />
            </div>
          </fieldset>
          <div class="row">
            <LabelHint name="headers" label="Custom headers" hint="Optional. One per line, as Name: value." />
            <textarea id="headers" name="headers" rows={3} aria-describedby={describedBy("headers", errors, true)} aria-invalid={invalidIf("headers", errors)}>
              {values.headers}
            </textarea>
            <FieldMessage id="headers-error" name="headers" errors={errors} />
          </div>
          <fieldset>
            <legend>Sign-in to your endpoint</legend>
            <Select name="auth_type" label="Send credentials" value={values.authType} options={authOptions} hint="Sent in the Authorization header; never shown again after saving." errors={errors} />
            <FieldMessage id="auth-error" name="auth" errors={errors} />
            <div data-auth="bearer">
              <Text name="auth_token" label="Bearer token" type="password" value={values.authToken} autocomplete="new-password" errors={errors} />
            </div>
            <div data-auth="basic">
              <Text name="auth_username" label="User name" value={values.authUsername} errors={errors} />
              <Text name="auth_password" label="Password" type="password" value={values.authPassword} autocomplete="new-password" errors={errors} />
            </div>
          </fieldset>
        </section>
        <div class="actions">
          <button type="submit">{mode === "create" ? "Add endpoint" : "Save changes"}</button>
          <a class="button secondary" href={cancel}>
            Cancel
          </a>
        </div>
      </PostForm>
    </>
  );
};
