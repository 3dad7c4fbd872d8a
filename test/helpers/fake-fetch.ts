/**
 * A `fetch` stand-in for unit tests: answers per URL from a mutable table, counts calls, and can
 * hold responses until released (to prove single-flight behaviour without timing).
 */
export type FakeAnswer = { status: number; body: unknown } | 'network-error';

export class FakeFetch {
  readonly calls: string[] = [];
  private readonly answers = new Map<string, FakeAnswer>();
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  /** Sets what `url` answers from now on. */
  answer(url: string, answer: FakeAnswer): this {
    this.answers.set(url, answer);
    return this;
  }

  /** Holds every response until {@link release} is called. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  count(url: string): number {
    return this.calls.filter((c) => c === url).length;
  }

  readonly fetch: typeof fetch = async (input) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    this.calls.push(url);
    if (this.gate) await this.gate;
    const answer = this.answers.get(url) ?? { status: 404, body: { error: 'not_found' } };
    if (answer === 'network-error') throw new TypeError('fetch failed');
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}
