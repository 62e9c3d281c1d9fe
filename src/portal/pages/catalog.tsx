/**
 * @module The Event catalog: every event type by group, with its description, the JSON
 * Schema of its data and an example.
 */
import type { FC } from "hono/jsx";
import type { EventTypeRow } from "../../db/queries/event-types";
import { groupCatalog } from "./endpoint-form";

export const CatalogPage: FC<{ types: EventTypeRow[] }> = ({ types }) => (
  <>
    <h1>Event catalog</h1>
    <p class="muted">The kinds of events your endpoints can receive. Each webhook's body carries the event's type and its data.</p>
    {types.length === 0 ? (
      <section class="card empty">
        <h2>No event types yet</h2>
        <p>Event types appear here once the application you came from defines them.</p>
      </section>
    ) : (
      groupCatalog(types).map(({ group, types: list }) => (
        <section class="card" aria-label={group ?? "Other events"}>
          <h2>{group ?? "Other events"}</h2>
          <ul class="list">
            {list.map((t) => (
              <li id={`type-${t.name}`}>
                <h3>
                  <code>{t.name}</code>
                </h3>
                {t.description ? <p class="wrap">{t.description}</p> : <p class="muted">No description.</p>}
                {t.example !== null && t.example !== undefined && (
                  <details>
                    <summary>Example data</summary>
                    <pre>{JSON.stringify(t.example, null, 2)}</pre>
                  </details>
                )}
                {t.schema && (
                  <details>
                    <summary>Schema of the data</summary>
                    <pre>{JSON.stringify(t.schema, null, 2)}</pre>
                  </details>
                )}
              </li>
            ))}
          </ul>
        </section>
      ))
    )}
  </>
);
