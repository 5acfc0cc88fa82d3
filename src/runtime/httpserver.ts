/**
 * The probe and metrics endpoints: `/healthz` (the process serves), `/readyz` (caches synced and
 * leadership known), `/metrics` (Prometheus text). Addresses are `host:port`, `:port` (all interfaces)
 * or `0` (disabled), as controller-runtime's `--metrics-bind-address` takes them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A GET handler: status code and text body. */
export type Route = () => Promise<{ code: number; body: string; contentType?: string }>;

/** Parses a bind address; undefined when disabled ("0" or ""). */
export function parseBindAddress(address: string): { host: string | undefined; port: number } | undefined {
  if (address === '0' || address === '') return undefined;
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw new Error(`bind address "${address}": expected host:port, :port or 0`);
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bind address "${address}": port must be an integer 0..65535`);
  }
  return { host: host || undefined, port };
}

/** A small HTTP server answering GET on fixed paths. */
export class ProbeServer {
  private readonly server: http.Server;

  private constructor(routes: Record<string, Route>) {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const route: Route | undefined = Object.hasOwn(routes, path) ? routes[path] : undefined;
      if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res
          .writeHead(route ? 405 : 404, { 'content-type': 'text/plain' })
          .end(route ? 'method not allowed\n' : 'not found\n');
        return;
      }
      route().then(
        ({ code, body, contentType }) => {
          res.writeHead(code, { 'content-type': contentType ?? 'text/plain; charset=utf-8' });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
        },
      );
    });
  }

  /** Listens on `address` (see {@link parseBindAddress}); undefined when disabled. */
  static async listen(address: string, routes: Record<string, Route>): Promise<ProbeServer | undefined> {
    const bind = parseBindAddress(address);
    if (!bind) return undefined;
    const s = new ProbeServer(routes);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(bind.port, bind.host, () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  /** The bound address (the real port when 0 was asked). */
  address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** `http://host:port` for clients. */
  url(): string {
    const { host, port } = this.address();
    const h = host === '::' || host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    return `http://${h}:${port}`;
  }

  /** Stops listening and closes idle connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
