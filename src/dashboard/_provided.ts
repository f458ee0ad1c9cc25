import { HttpError } from "./errors.ts";

/**
 * Calls an optional provider.
 * @param provider The provider, or undefined.
 * @param what What it lists, for the error message.
 * @returns Its list, or an empty list without a provider.
 * @throws {HttpError} 502 when the provider fails.
 */
export async function callProvider<T>(
  provider: (() => Promise<T[]>) | undefined,
  what: string,
): Promise<T[]> {
  if (!provider) return [];
  try {
    return await provider();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new HttpError(502, `Cannot list ${what}: ${why}`, {
      code: "provider_failed",
      cause: err,
    });
  }
}
