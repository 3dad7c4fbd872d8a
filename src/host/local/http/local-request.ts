/**
 * The request side of the local host: a real `HttpRequest` and `InvocationContext` built from a
 * Node request the way the Functions host builds them (headers, streamed body, `Expect:
 * 100-continue`, invocation ids, `context.log` routed to the stack's logger).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { Logger } from '../../../logger';

/**
 * `context.log` and friends of one route, written to the stack's logger. A call shaped
 * `(event, fields)`, as the gateway makes, becomes that structured event; anything else is kept
 * as `function.log` with its arguments.
 */
export function invocationLogHandler(logger: Logger, functionName: string) {
  return (level: LogLevelName, ...args: unknown[]): void => {
    const [event, fields] = args;
    if (args.length === 2 && typeof event === 'string' && typeof fields === 'object' && fields !== null) {
      logger.log(LOG_LEVELS[level], event, {
        function: functionName,
        ...(fields as Record<string, unknown>),
      });
    } else {
      logger.log(LOG_LEVELS[level], 'function.log', { function: functionName, args });
    }
  };
}

export type LogLevelName = keyof typeof LOG_LEVELS;

/**
 * What `HttpRequest` reads of its native request (`url`, `method`, `headers`, the body and its
 * readers, `clone`), with the web `Request` built only when a handler touches the body. Why: a
 * `Request` costs several microseconds per request (URL and header re-validation, an
 * `AbortSignal`), and the proxy's GETs and most API reads never look at a body. The `Request`
 * built on demand is the host's (createStreamRequest): the socket streamed as a `duplex` body.
 */
class LocalNativeRequest {
  #request: Request | undefined;

  /**
   * @param sendContinue answers `Expect: 100-continue`: called once, when the body is first read
   */
  constructor(
    readonly url: string,
    readonly method: string,
    readonly headers: Headers,
    private readonly source: IncomingMessage | undefined,
    private sendContinue: (() => void) | undefined,
  ) {}

  /** The client waits for `100 Continue` before it sends the body: send it on the first read. */
  private wantBody(): void {
    const send = this.sendContinue;
    this.sendContinue = undefined;
    send?.();
  }

  private request(): Request {
    this.wantBody();
    this.#request ??= new Request(this.url, {
      method: this.method,
      headers: this.headers,
      ...(this.source === undefined ? {} : { body: this.source, duplex: 'half' }),
    });
    return this.#request;
  }

  get body(): Request['body'] {
    return this.source === undefined ? null : this.request().body;
  }

  get bodyUsed(): boolean {
    return this.#consumed || (this.#request?.bodyUsed ?? false);
  }

  #consumed = false;

  /**
   * The whole body, read straight from the socket when nothing asked for the web stream: a
   * decision or exchange body is a few hundred bytes, and a web `Request` around the socket costs
   * far more than the bytes (the gateway reads bodies this way when a Content-Length bounds them).
   */
  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#request !== undefined || this.source === undefined) return this.request().arrayBuffer();
    if (this.#consumed) throw new TypeError('Body is unusable: Body has already been read');
    this.#consumed = true;
    this.wantBody();
    const chunks: Buffer[] = [];
    for await (const chunk of this.source) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }

  blob(): Promise<Blob> {
    return this.request().blob();
  }

  formData(): Promise<FormData> {
    return this.request().formData();
  }

  json(): Promise<unknown> {
    return this.request().json();
  }

  async text(): Promise<string> {
    if (this.#request !== undefined || this.source === undefined) return this.request().text();
    return Buffer.from(await this.arrayBuffer()).toString('utf8');
  }

  clone(): Request {
    return this.request().clone();
  }
}

/**
 * Invocation ids shaped like the host's (a UUID), from a per-process random prefix and a counter:
 * unique within the process without a random draw per request.
 */
const INVOCATION_PREFIX = (() => {
  const hex = randomUUID().replace(/-/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-`;
})();
let invocationCounter = 0;

function nextInvocationId(): string {
  invocationCounter = (invocationCounter + 1) % 0x1000000000000;
  return INVOCATION_PREFIX + invocationCounter.toString(16).padStart(12, '0');
}

const LOG_LEVELS = {
  trace: 'debug',
  debug: 'debug',
  information: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  none: 'debug',
} as const;

/**
 * The request headers as the host passes them: every value, repeated names kept, and the
 * client's address appended to `X-Forwarded-For`, as Azure's front end does.
 */
export function requestHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const client = req.socket.remoteAddress;
  if (client !== undefined) {
    const chain = headers.get('x-forwarded-for');
    headers.set('x-forwarded-for', chain ? `${chain}, ${client}` : client);
  }
  return headers;
}

/**
 * The `HttpRequest` a handler gets, over a {@link LocalNativeRequest}.
 *
 * Why the cast: the library's public constructor (`HttpRequestInit`) takes a whole body up front,
 * so it cannot stream one; the host's own streaming path passes a native `Request` instead, an
 * internal field of `@azure/functions`. That dependency is pinned to one exact version in
 * package.json, and test/unit/host/functions-library.test.ts fails on any other version and
 * checks that the field is still read.
 *
 * @param sendContinue answers `Expect: 100-continue` when the body is first read
 */
export function localHttpRequest(
  url: string,
  method: string,
  headers: Headers,
  params: Record<string, string>,
  body: IncomingMessage | undefined,
  sendContinue: (() => void) | undefined,
): HttpRequest {
  return new HttpRequest({
    nativeRequest: new LocalNativeRequest(url, method, headers, body, sendContinue),
    params,
  } as unknown as ConstructorParameters<typeof HttpRequest>[0]);
}

/** The `InvocationContext` of one invocation of `functionName`. */
export function localInvocationContext(
  functionName: string,
  logHandler: (level: LogLevelName, ...args: unknown[]) => void,
): InvocationContext {
  return new InvocationContext({ invocationId: nextInvocationId(), functionName, logHandler });
}
