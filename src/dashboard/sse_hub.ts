const encoder = new TextEncoder();

/**
 * Fans Server-Sent Events out to open `text/event-stream` responses. While at least one
 * client is connected it calls `tick` every `intervalMs` (the dashboard polls the logs
 * there) and sends a comment every `keepAliveMs` so proxies keep the stream open.
 *
 * `closeAll()` ends every stream: call it before `server.shutdown()`, which otherwise
 * waits for open streams forever (deno-facts §7).
 */
export class SseHub {
  #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #tick: () => Promise<void>;
  #intervalMs: number;
  #keepAliveMs: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastSend = 0;
  #busy = false;
  #again = false;
  #closed = false;

  /**
   * @param tick Called periodically while clients are connected; errors are ignored.
   * @param options Poll interval (default 250 ms) and keep-alive interval (default 15 s).
   */
  constructor(
    tick: () => Promise<void>,
    options: { intervalMs?: number; keepAliveMs?: number } = {},
  ) {
    this.#tick = tick;
    this.#intervalMs = options.intervalMs ?? 250;
    this.#keepAliveMs = options.keepAliveMs ?? 15_000;
  }

  /** @returns How many clients are connected. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Opens a stream for one client.
   * @returns The `text/event-stream` response; 503 after `closeAll()`.
   */
  subscribe(): Response {
    if (this.#closed) return new Response("Shutting down\n", { status: 503 });
    let self: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.#clients.add(controller);
        controller.enqueue(encoder.encode("retry: 2000\n: connected\n\n"));
        this.#startTimer();
      },
      cancel: () => this.#drop(self),
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * Sends one event to every client.
   * @param event The event name.
   * @param data Serialised as one line of JSON.
   */
  send(event: string, data: unknown): void {
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /**
   * Runs `tick` now (something was written), when a client is connected; a kick during a
   * tick runs one more right after it.
   */
  kick(): void {
    if (this.#clients.size === 0 || this.#closed) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#onTimer();
  }

  /** Ends every stream and stops the timer; later subscriptions get 503. */
  closeAll(): void {
    this.#closed = true;
    for (const c of this.#clients) {
      try {
        c.close();
      } catch {
        // already closed by the client
      }
    }
    this.#clients.clear();
    this.#stopTimer();
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    this.#lastSend = Date.now();
    for (const c of this.#clients) {
      try {
        c.enqueue(bytes);
      } catch {
        this.#drop(c);
      }
    }
  }

  #drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(c);
    if (this.#clients.size === 0) this.#stopTimer();
  }

  #startTimer(): void {
    if (this.#timer !== null) return;
    this.#lastSend = Date.now();
    this.#timer = setInterval(() => this.#onTimer(), this.#intervalMs);
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #onTimer(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.#tick();
    } catch {
      // a read error now is retried on the next tick
    } finally {
      this.#busy = false;
    }
    if (this.#again) {
      this.#again = false;
      return this.#onTimer();
    }
    if (Date.now() - this.#lastSend >= this.#keepAliveMs) this.#write(": keep-alive\n\n");
  }
}
