import { once } from "node:events";
import { connect, type Socket } from "node:net";

export interface RawConnection {
  socket: Socket;
  /** Every byte the server has sent so far, as text. */
  received(): string;
  /** Settles when the connection is closed, by either side. */
  closed: Promise<unknown>;
}

/** A TCP connection to a local server, for requests node's HTTP clients would not send. */
export async function rawConnection(
  port: number,
  options: { allowHalfOpen?: boolean } = {},
): Promise<RawConnection> {
  const socket = connect({ port, host: "127.0.0.1", ...options });
  let received = "";
  socket.setEncoding("utf8").on("data", (chunk: string) => {
    received += chunk;
  });
  const closed = once(socket, "close");
  await once(socket, "connect");
  return { socket, received: () => received, closed };
}

/** The status lines of every answer in `received`: ["HTTP/1.1 200", "HTTP/1.1 400"]. */
export function statusLines(received: string): string[] {
  return received.match(/HTTP\/1\.1 \d{3}/g) ?? [];
}
