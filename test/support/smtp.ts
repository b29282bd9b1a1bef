/** A real SMTP listener on loopback for tests: records every mail, or refuses them on demand. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface Received { rcptTo: string[]; mail: ParsedMail }

export interface SmtpListener {
  port: number;
  url: string;
  received: Received[];
  /** While true, every message is refused with a 550. */
  rejecting: boolean;
  rejected: number;
  close(): Promise<void>;
}

export async function startSmtpListener(): Promise<SmtpListener> {
  const listener = { received: [] as Received[], rejecting: false, rejected: 0 } as SmtpListener;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (listener.rejecting) {
          listener.rejected++;
          callback(Object.assign(new Error('Mailbox unavailable (test rejects)'), { responseCode: 550 }));
          return;
        }
        simpleParser(Buffer.concat(chunks)).then((mail) => {
          // Recorded before the answer: a mail is visible once its sender's call returns.
          listener.received.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), mail });
          callback();
        }, (e: Error) => callback(e));
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  listener.port = (server.server.address() as AddressInfo).port;
  listener.url = `smtp://127.0.0.1:${listener.port}`;
  listener.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return listener;
}
