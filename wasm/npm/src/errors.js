// DidCommError: every failure of the package. `kind` is the core's error kind, stable and meant
// for code (`err.kind === ErrorKind.Malformed`); `reason` is for humans and never holds key
// material or message contents.

/** The error kinds, as the strings found in `DidCommError.kind`. */
export const ErrorKind = Object.freeze({
  Malformed: 'malformed',
  Unsupported: 'unsupported',
  DidNotResolved: 'did_not_resolved',
  DidUrlNotFound: 'did_url_not_found',
  SecretNotFound: 'secret_not_found',
  NoCompatibleKeys: 'no_compatible_keys',
  DecryptionFailed: 'decryption_failed',
  InvalidSignature: 'invalid_signature',
  SenderMismatch: 'sender_mismatch',
  RecipientMismatch: 'recipient_mismatch',
  TooLarge: 'too_large',
  Expired: 'expired',
  IllegalArgument: 'illegal_argument',
  ResolverFailure: 'resolver_failure',
  InvalidState: 'invalid_state',
});

export class DidCommError extends Error {
  /**
   * @param {string} kind one of the `ErrorKind` values
   * @param {string} reason what went wrong, for humans
   * @param {{cause?: unknown}} [options]
   */
  constructor(kind, reason, options) {
    super(`${kind}: ${reason}`, options);
    this.kind = kind;
    this.reason = reason;
  }
}
Object.defineProperty(DidCommError.prototype, 'name', {
  value: 'DidCommError',
  writable: true,
  configurable: true,
});
