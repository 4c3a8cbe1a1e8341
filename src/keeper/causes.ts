/** Causes the keeper itself diagnoses. Their texts live with every other cause in providers/causes.ts. */
export {
  noRefreshTokenCause,
  noRefreshTokenFix,
  noRefreshTokenWarning,
  notAuthorizedCause,
  rotationRaceCause,
  secretRejectedCause,
  unknownConnectionCause,
} from '../providers/causes.js';
