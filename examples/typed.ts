/**
 * A typed workflow: input and output types flow from `defineWorkflow` to
 * `run()` and `result()`.
 *
 *   deno run -A examples/typed.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/typed.ts
 */

import { type Backend, OpenWorkflow } from "../mod.ts";
import { connectBackend } from "./backend.ts";

interface SendEmailInput {
  userId: string;
  subject: string;
}

interface SendEmailOutput {
  emailId: string;
  sentAt: string;
}

/** Stand-ins for a database and an email service. */
const db = {
  users: {
    findOne({ id }: { id: string }): Promise<{ id: string; email: string }> {
      return Promise.resolve({ id, email: `${id}@example.com` });
    },
  },
};
const emailService = {
  sent: [] as { to: string; subject: string }[],
  send(message: { to: string; subject: string }): Promise<string> {
    this.sent.push(message);
    return Promise.resolve(`email-${this.sent.length}`);
  },
};

/** Runs the example on `backend` and returns the workflow's output. */
export async function main(backend: Backend): Promise<SendEmailOutput> {
  const ow = new OpenWorkflow({ backend });

  const sendEmail = ow.defineWorkflow<SendEmailInput, SendEmailOutput>(
    { name: "send-email" },
    async ({ input, step }) => {
      const user = await step.run({ name: "fetch-user" }, async () => {
        return await db.users.findOne({ id: input.userId });
      });
      const emailId = await step.run({ name: "send" }, async () => {
        return await emailService.send({
          to: user.email,
          subject: input.subject,
        });
      });
      // Dates are JSON strings once stored: return one explicitly.
      return { emailId, sentAt: new Date().toISOString() };
    },
  );

  const worker = ow.newWorker();
  await worker.start();
  try {
    const handle = await sendEmail.run({ userId: "u-123", subject: "Welcome" });
    return await handle.result();
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend)); // { emailId: "email-1", sentAt: "…" }
  } finally {
    await backend.stop();
  }
}
