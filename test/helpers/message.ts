// The host's rendering of a device-side refusal (Err, SessionRefused, AuthRefused) for tests that check what a person would read (host/render.ts).
import { renderReason } from '../../host/render.ts';

/** The words for an Err ({reason, args}) or a session refusal ({code, args}); an AuthRefused gives its reason string. */
export function msgOf(r: { reason: unknown; code?: number; args?: number[] }): string {
  if (typeof r.code === 'number') return renderReason(r.code, r.args || []);
  if (typeof r.reason === 'number') return renderReason(r.reason, r.args || []);
  return String(r.reason);
}
