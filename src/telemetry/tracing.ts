/**
 * Traces, through `@opentelemetry/api`: a no-op until the application
 * registers an SDK (Deno's built-in export with `OTEL_DENO=true`, or a Node
 * SDK), which then receives the spans with no code of ours.
 *
 * One trace per run, across processes: the span that created a run stores
 * its W3C trace context in the run's `context` (`traceparent`, and
 * `tracestate` when there is one), and every execution of the run, on any
 * worker and after any crash, is a child of it; the step attempts of an
 * execution are children of the execution's span. A child workflow's run
 * stores the context of its parent's step, so it continues the parent's
 * trace. A run created without a trace context (no SDK where it was
 * created, or made by a schedule) gets one derived from its id: its trace
 * id is the run id's 32 hex digits, the same on every worker.
 *
 * Span names and attributes are OpenWorkflow's, so that dashboards carry
 * over.
 *
 * @module
 */

import {
  type Attributes,
  type Context,
  context as otelContext,
  createTraceState,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import type { JsonValue } from "../core/json.ts";
import type { WorkflowRun } from "../core/records.ts";

/** The instrumentation scope's name. */
export const INSTRUMENTATION_NAME = "@openworkflow/core";

let tracerProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

/** The tracer, made again whenever the global tracer provider changes. */
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (provider !== tracerProvider || cachedTracer === undefined) {
    tracerProvider = provider;
    cachedTracer = provider.getTracer(INSTRUMENTATION_NAME);
  }
  return cachedTracer;
}

/** Attribute names. */
export const ATTR = {
  workflowName: "openworkflow.workflow.name",
  workflowVersion: "openworkflow.workflow.version",
  namespaceId: "openworkflow.namespace.id",
  runId: "openworkflow.run.id",
  stepName: "openworkflow.step.name",
  stepKind: "openworkflow.step.kind",
  attempt: "openworkflow.execution.attempt",
  outcome: "openworkflow.execution.outcome",
  signalName: "openworkflow.signal.name",
  workerId: "openworkflow.worker.id",
  errorType: "error.type",
} as const;

export type { Context, Span };

/** The namespace a backend is bound to, when it says (the built-in ones do). */
export function namespaceOf(backend: object): string | undefined {
  let ns = namespaces.get(backend);
  if (ns === undefined && !namespaces.has(backend)) {
    try {
      const value = (backend as { namespaceId?: unknown }).namespaceId;
      ns = typeof value === "string" ? value : undefined;
    } catch {
      // A wrapper (a Proxy, say) whose getter cannot reach the backend's
      // private state: no namespace to tell.
      ns = undefined;
    }
    namespaces.set(backend, ns);
  }
  return ns;
}

/** The namespace of each backend seen, read once. */
const namespaces = new WeakMap<object, string | undefined>();

/** `openworkflow.namespace.id` of a backend, when it says. */
export function namespaceAttribute(backend: object): Attributes {
  const ns = namespaceOf(backend);
  return ns === undefined ? {} : { [ATTR.namespaceId]: ns };
}

/** The attributes every span of a run carries. */
export function runAttributes(
  run: Pick<WorkflowRun, "id" | "workflowName" | "version">,
  namespaceId: string | undefined,
): Attributes {
  const attributes: Attributes = {
    [ATTR.workflowName]: run.workflowName,
    [ATTR.runId]: run.id,
  };
  if (run.version !== null) attributes[ATTR.workflowVersion] = run.version;
  if (namespaceId !== undefined) attributes[ATTR.namespaceId] = namespaceId;
  return attributes;
}

/** The provider the API delegates to while no SDK is registered. */
const NO_SDK = new ProxyTracerProvider().getDelegate();

/**
 * Whether an SDK may record spans: `false` only while the global tracer
 * provider is the API's own no-op, so that the engine makes no spans at
 * all then (not even the API's non-recording ones).
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider &&
    provider.getDelegate() === NO_SDK);
}

/** Starts a span under `parent` (the active context when omitted). */
export function startSpan(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  parent: Context = otelContext.active(),
): Span {
  return tracer().startSpan(name, { kind, attributes }, parent);
}

/** `parent` with `span` as its current span. */
export function withSpan(span: Span, parent: Context = ROOT_CONTEXT): Context {
  return trace.setSpan(parent, span);
}

/** Calls `fn` with `ctx` as the active context (for the application's spans). */
export function callIn<T>(ctx: Context, fn: () => T): T {
  return otelContext.with(ctx, fn);
}

/** Ends `span` as failed with `error`: its type, message and status. */
export function endFailed(span: Span, error: unknown): void {
  if (span.isRecording()) {
    const type = errorType(error);
    span.setAttribute(ATTR.errorType, type);
    if (error instanceof Error) span.recordException(error);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: errorMessage(error),
    });
  }
  span.end();
}

/** The `error.type` of an error, live or serialized. */
export function errorType(error: unknown): string {
  if (error !== null && typeof error === "object") {
    const name = (error as { name?: unknown }).name;
    if (typeof name === "string" && name !== "") return name;
  }
  return "Error";
}

function errorMessage(error: unknown): string {
  if (error !== null && typeof error === "object") {
    const message = (error as { message?: unknown }).message;
    if (typeof message === "string") return message;
  }
  return String(error);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C trace context of `span`, to store with a run it creates, or
 * `null` when the span carries none (no SDK is registered).
 */
export function traceContextOf(
  span: Span,
): { traceparent: string; tracestate?: string } | null {
  const ctx = span.spanContext();
  if (!trace.isSpanContextValid(ctx)) return null;
  const flags = (ctx.traceFlags & 0xff).toString(16).padStart(2, "0");
  const traceparent = `00-${ctx.traceId}-${ctx.spanId}-${flags}`;
  const tracestate = ctx.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/**
 * The trace context a child run of `run` stores: the span's that starts it
 * when there is one, else the parent run's own (stored or derived), so that
 * the child stays in its parent's trace also when started by a worker
 * without an SDK.
 */
export function childTraceContext(
  span: Span | undefined,
  run: Pick<WorkflowRun, "id" | "context">,
): { traceparent: string; tracestate?: string } | null {
  if (span !== undefined) return traceContextOf(span);
  const parent = trace.getSpanContext(runParentContext(run));
  return parent === undefined
    ? null
    : traceContextOf(trace.wrapSpanContext(parent));
}

/** The trace fields of a run's stored `context`, to keep when replacing it. */
export function storedTraceFields(
  runContext: JsonValue | null,
): { traceparent?: string; tracestate?: string } {
  if (
    runContext === null || typeof runContext !== "object" ||
    Array.isArray(runContext)
  ) {
    return {};
  }
  const fields: { traceparent?: string; tracestate?: string } = {};
  if (typeof runContext.traceparent === "string") {
    fields.traceparent = runContext.traceparent;
  }
  if (typeof runContext.tracestate === "string") {
    fields.tracestate = runContext.tracestate;
  }
  return fields;
}

/**
 * The context an execution of `run` continues: the trace context stored
 * with it, or one derived from its id (see the module doc).
 */
export function runParentContext(
  run: Pick<WorkflowRun, "id" | "context">,
): Context {
  const { traceparent, tracestate } = storedTraceFields(run.context);
  const match = traceparent === undefined
    ? null
    : TRACEPARENT.exec(traceparent);
  if (match !== null) {
    const [, traceId, spanId, flags] = match;
    const parent = {
      traceId,
      spanId,
      traceFlags: parseInt(flags, 16),
      isRemote: true,
      ...(tracestate === undefined
        ? {}
        : { traceState: createTraceState(tracestate) }),
    };
    if (trace.isSpanContextValid(parent)) {
      return trace.setSpanContext(ROOT_CONTEXT, parent);
    }
  }
  const hex = run.id.replaceAll("-", "").toLowerCase();
  const derived = {
    traceId: /^[0-9a-f]{32}$/.test(hex) ? hex : "",
    spanId: hex.slice(16),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  };
  return trace.isSpanContextValid(derived)
    ? trace.setSpanContext(ROOT_CONTEXT, derived)
    : ROOT_CONTEXT;
}

export { SpanKind };

/**
 * Runs `fn` in a new span (under the active context), ending it when `fn`
 * settles: failed, with the error, when it rejects. Without an SDK, runs
 * `fn` with no span.
 */
export async function traced<T>(
  name: string,
  kind: SpanKind,
  attributes: () => Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return await fn(undefined);
  const span = startSpan(name, kind, attributes());
  let value: T;
  try {
    value = await fn(span);
  } catch (error) {
    endFailed(span, error);
    throw error;
  }
  span.end();
  return value;
}
