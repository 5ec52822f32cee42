// The webview's end of the protocol: typed requests with ids and a timeout on every reply,
// host notifications checked before use, and the panel's saved state.
import {
  isHostNotification,
  isResponseMessage,
  notification,
  request,
  REPLY_TIMEOUT_MS,
  type HostNotifications,
  type PanelKind,
  type Params,
  type RequestMethod,
  type Result,
} from '../protocol';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** A failed request, with the engine's error code when there is one. */
export class HostError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

type Listener<N extends keyof HostNotifications> = (params: HostNotifications[N]) => void;

export class HostConnection<State extends object> {
  private readonly api = acquireVsCodeApi();
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  private readonly listeners = new Map<string, Set<(params: unknown) => void>>();
  private nextId = 1;

  constructor(private readonly panel: PanelKind) {
    window.addEventListener('message', (event: MessageEvent) => this.receive(event.data));
  }

  /** Tells the host the page listens; call once the listeners are in place. */
  ready(): void {
    this.api.postMessage(notification('ready', { panel: this.panel }));
  }

  request<M extends RequestMethod>(method: M, params: Params<M>): Promise<Result<M>> {
    const id = this.nextId++;
    return new Promise<Result<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HostError('timeout', `Tagsmith did not answer "${method}" in time.`));
      }, REPLY_TIMEOUT_MS[method]);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.api.postMessage(request(id, method, params));
    });
  }

  on<N extends keyof HostNotifications>(method: N, listener: Listener<N>): void {
    if (!this.listeners.has(method)) this.listeners.set(method, new Set());
    this.listeners.get(method)!.add(listener as (params: unknown) => void);
  }

  get state(): Partial<State> {
    return (this.api.getState() as Partial<State> | undefined) ?? {};
  }

  saveState(patch: Partial<State>): void {
    this.api.setState({ ...this.state, ...patch });
  }

  private receive(data: unknown): void {
    if (isResponseMessage(data)) {
      const waiting = this.pending.get(data.id);
      if (!waiting) return; // answered after its timeout
      this.pending.delete(data.id);
      clearTimeout(waiting.timer);
      if (data.ok) waiting.resolve(data.result);
      else waiting.reject(new HostError(data.error.code, data.error.message));
      return;
    }
    if (isHostNotification(data)) {
      for (const listener of this.listeners.get(data.method) ?? []) listener(data.params);
    }
    // Anything else is not ours (VS Code posts its own messages into webviews): ignore it.
  }
}
