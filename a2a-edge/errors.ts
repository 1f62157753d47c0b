/** A2A v1.0.1 errors (A2A.md §1.6) and the JSON-RPC standard ones, with their REST mapping. */
import pino, { type Logger } from 'pino';
import { CommandError } from '../commands/errors.ts';

export const A2A_ERRORS = {
  TASK_NOT_FOUND: { code: -32001, http: 404, status: 'NOT_FOUND' },
  TASK_NOT_CANCELABLE: { code: -32002, http: 400, status: 'FAILED_PRECONDITION' },
  PUSH_NOTIFICATION_NOT_SUPPORTED: { code: -32003, http: 400, status: 'FAILED_PRECONDITION' },
  UNSUPPORTED_OPERATION: { code: -32004, http: 400, status: 'FAILED_PRECONDITION' },
  CONTENT_TYPE_NOT_SUPPORTED: { code: -32005, http: 400, status: 'INVALID_ARGUMENT' },
  INVALID_AGENT_RESPONSE: { code: -32006, http: 500, status: 'INTERNAL' },
  EXTENDED_AGENT_CARD_NOT_CONFIGURED: { code: -32007, http: 400, status: 'FAILED_PRECONDITION' },
  EXTENSION_SUPPORT_REQUIRED: { code: -32008, http: 400, status: 'FAILED_PRECONDITION' },
  VERSION_NOT_SUPPORTED: { code: -32009, http: 400, status: 'FAILED_PRECONDITION' },
  PARSE_ERROR: { code: -32700, http: 400, status: 'INVALID_ARGUMENT' },
  INVALID_REQUEST: { code: -32600, http: 400, status: 'INVALID_ARGUMENT' },
  METHOD_NOT_FOUND: { code: -32601, http: 404, status: 'NOT_FOUND' },
  INVALID_PARAMS: { code: -32602, http: 400, status: 'INVALID_ARGUMENT' },
  INTERNAL: { code: -32603, http: 500, status: 'INTERNAL' },
  // Not A2A errors: authentication is the transport's business (HTTP 401/403); JSON-RPC gets a server-defined code.
  UNAUTHENTICATED: { code: -32000, http: 401, status: 'UNAUTHENTICATED' },
  PERMISSION_DENIED: { code: -32000, http: 403, status: 'PERMISSION_DENIED' },
  PAYLOAD_TOO_LARGE: { code: -32600, http: 413, status: 'INVALID_ARGUMENT' },
  // A message whose parts exceed the maximum message size: invalid params, with REST's 413.
  MESSAGE_TOO_LARGE: { code: -32602, http: 413, status: 'INVALID_ARGUMENT' },
  // Something other than a task that the caller may not see or that does not exist (a workflow's card).
  NOT_FOUND: { code: -32000, http: 404, status: 'NOT_FOUND' },
} as const;
export type A2AReason = keyof typeof A2A_ERRORS;

export class A2AError extends Error {
  override readonly name = 'A2AError';
  constructor(
    readonly reason: A2AReason,
    message: string,
    readonly metadata?: Record<string, string>,
  ) {
    super(message);
  }
  get code() {
    return A2A_ERRORS[this.reason].code;
  }
  get http() {
    return A2A_ERRORS[this.reason].http;
  }
  get status() {
    return A2A_ERRORS[this.reason].status;
  }
  /** google.rpc.ErrorInfo, carried in JSON-RPC error.data (v1.0) and REST error.details. */
  errorInfo() {
    return {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: this.reason,
      domain: 'a2a-protocol.org',
      ...(this.metadata ? { metadata: this.metadata } : {}),
    };
  }
}

export const taskNotFound = (id: string) =>
  new A2AError('TASK_NOT_FOUND', `Task not found: ${id}`, { taskId: id });

/** Command errors as the protocol names them. */
export const toA2AError = (error: unknown): A2AError => {
  if (error instanceof A2AError) return error;
  if (error instanceof CommandError) {
    const reason = (error.details as { reason?: string } | undefined)?.reason;
    if (reason && reason in A2A_ERRORS) return new A2AError(reason as A2AReason, error.message);
    switch (error.kind) {
      case 'validation':
        return new A2AError('INVALID_PARAMS', error.message);
      case 'not_found':
        return new A2AError('TASK_NOT_FOUND', error.message);
      case 'rule_violated':
        return new A2AError('UNSUPPORTED_OPERATION', error.message);
      case 'conflict':
        return new A2AError('INTERNAL', error.message);
    }
  }
  return new A2AError('INTERNAL', 'Internal error');
};

const fallbackLog = pino({ name: 'a2a-edge', level: process.env.LOG_LEVEL ?? 'info' });

/** Where an unexpected failure is logged, and the request id that ties the log line to the answer. */
export interface ErrorReport {
  log?: Logger;
  requestId?: string;
}

/**
 * toA2AError for the bindings: an unexpected failure becomes -32603 / 500 without its details on the wire
 * (no message, no stack: only the request id), and is logged with its stack and that request id (never the
 * request, which may carry credentials).
 */
export const toReportedA2AError = (
  error: unknown,
  binding: 'JSON-RPC' | 'REST',
  report: ErrorReport = {},
): A2AError => {
  const mapped = toA2AError(error);
  if (mapped.reason !== 'INTERNAL' || error instanceof A2AError) return mapped;
  const { requestId } = report;
  (report.log ?? fallbackLog).error({ err: error, binding, requestId }, 'internal error in an A2A call');
  return requestId
    ? new A2AError('INTERNAL', `Internal error (request id ${requestId})`, { requestId })
    : mapped;
};
