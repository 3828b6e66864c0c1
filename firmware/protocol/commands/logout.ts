// LOGOUT: drop this session's role; the session stays open.
import type { Schema } from '../schema.ts';

export interface LogoutRequest {}
export const LogoutRequestSchema: Schema = [];
export interface LogoutResponse {}
export const LogoutResponseSchema: Schema = [];
