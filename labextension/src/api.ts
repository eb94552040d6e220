/**
 * The REST routes of nbgraph's server extension (nbgraph/lab/handlers.py), typed.
 * Requests go through Jupyter's ServerConnection, which adds the token and the XSRF header.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One row of `nbgraph status --json`. */
export interface IStatusRow {
  name: string;
  node: string;
  params: Record<string, unknown>;
  status: string;
  output: string | null;
  error: string | null;
  stale: boolean;
  reason: string;
  parents: string[];
  duration: number | null;
  results: Record<string, unknown>;
}

/** One row of `nbgraph results --format json`. */
export interface IResultRow {
  name: string;
  node: string;
  status: string;
  params: Record<string, unknown>;
  results: Record<string, unknown>;
  inherited: Record<string, unknown>;
}

export interface IGraphNode {
  name: string;
  notebook: string;
  grid: string;
  parents: string[];
  variants: number;
}

export interface IGraph {
  spec: string;
  root: string;
  nodes: IGraphNode[];
  layers: string[][];
  busy: string | null;
}

export interface IRunVariant {
  name: string;
  state: string;
  error: string | null;
  duration: number | null;
}

export interface IRun {
  id: string;
  state: 'running' | 'succeeded' | 'failed' | 'interrupted';
  total: number | null;
  counts: Record<string, number>;
  variants: IRunVariant[];
  failures: string[];
  summary: string[];
  message: string | null;
}

/** An error the server explained in one line (or the reason it could not be asked). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: string
  ) {
    super(message);
  }
}

export const NO_EXTENSION =
  "nbgraph's server extension is not enabled on this Jupyter server: install nbgraph with its lab extra " +
  "(pip install 'nbgraph-inherit[lab]') in the server's environment and restart the server";

/** Call `nbgraph/api/<path>`; resolves to the parsed JSON, rejects with an ApiError of one line. */
export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'nbgraph/api', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (e) {
    throw new ApiError(`the Jupyter server cannot be reached: ${e}`, 0, 'network');
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 404 && (!data || !data.error)) {
      throw new ApiError(NO_EXTENSION, 404, 'NoExtension');
    }
    const message = data && data.message ? data.message : `HTTP ${response.status}`;
    throw new ApiError(message, response.status, (data && data.error) || 'http');
  }
  return data as T;
}

export function post<T>(path: string, body: unknown): Promise<T> {
  return api<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

export function query(spec: string): string {
  return `?spec=${encodeURIComponent(spec)}`;
}
