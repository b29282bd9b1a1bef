import nodemailer from 'nodemailer';

export interface MailMessage {
  to: string[];
  subject: string;
  text: string;
}

export interface Mailer {
  send(message: MailMessage & { from: string }): Promise<void>;
  close(): void;
}

/** A nodemailer transport from SMTP_URL (smtp://user:pass@host:port or smtps://...). */
export function createMailer(smtpUrl: string): Mailer {
  // Bounded waits: a hung SMTP server fails the attempt well within the activity's timeout.
  const transport = nodemailer.createTransport(smtpUrl, { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 } as object);
  return {
    async send(message) {
      await transport.sendMail({ from: message.from, to: message.to, subject: message.subject, text: message.text });
    },
    close: () => transport.close(),
  };
}
