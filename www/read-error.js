// Shared by the page and its worker: a chosen file can be read long after it was chosen.

/**
 * The message for a chosen file that could no longer be read because it was removed or
 * changed on disk (the browser says "network error" or names a DOMException), or null for
 * any other failure.
 */
export function readFailureMessage(e) {
  const message = String(e?.message ?? e);
  if (/^(NotFoundError|NotReadableError)$/.test(e?.name) || (e instanceof TypeError && /network error/i.test(message))) {
    return `Could not read the file: it was changed, moved or removed after it was chosen (${message}). Choose it again.`;
  }
  return null;
}
