/**
 * Runs a command for the benchmarks and returns its standard output,
 * trimmed; throws with both outputs when it fails.
 *
 * @module
 */

/** The trimmed stdout of `command args` (run in `cwd`); throws on failure. */
export async function output(
  command: string,
  args: string[],
  cwd?: string,
): Promise<string> {
  const result = await new Deno.Command(command, {
    args,
    ...(cwd === undefined ? {} : { cwd }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout).trim();
  if (!result.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed:\n${text}\n${
        new TextDecoder().decode(result.stderr)
      }`,
    );
  }
  return text;
}
