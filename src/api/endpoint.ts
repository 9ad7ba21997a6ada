/** Where shoalctl finds shoald by default (apart from client.ts, so the CLI can name it without loading gRPC). */

/** The default endpoint: shoald's unix socket. */
export const DEFAULT_ENDPOINT = 'unix:///run/shoal/shoal.sock';
