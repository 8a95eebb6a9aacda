// The one backoff of the extension: how long to wait before trying to reach
// disca-host again, asking it again for the phone's credentials, or (in the
// softphone) reconnecting to the PBX and registering again.

/** Longest wait between two attempts. */
export const MAX_RETRY_MS = 30_000;

/** The wait after `failures` failures in a row: a second, doubling up to
 *  MAX_RETRY_MS, spread by ±25 % so browsers do not retry in step. */
export function retryDelay(failures, random = Math.random) {
  return Math.min(MAX_RETRY_MS, 1000 * 2 ** failures) * (0.75 + random() / 2);
}
