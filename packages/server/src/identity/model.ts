/** Identity aggregates as the rest of Tessera sees them (no storage or HTTP types). */
export type UserStatus = 'pending' | 'active' | 'locked' | 'disabled';

export interface Tenant {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
}

export interface User {
  id: string;
  tenantId: string;
  username: string | null;
  email: string | null;
  emailVerified: boolean;
  givenName: string | null;
  familyName: string | null;
  phoneNumber: string | null;
  phoneNumberVerified: boolean;
  passwordHash: string | null;
  status: UserStatus;
  roles: string[];
  createdAt: number;
  updatedAt: number;
}

export interface NewUser {
  tenantId: string;
  username?: string | null;
  email?: string | null;
  emailVerified?: boolean;
  givenName?: string | null;
  familyName?: string | null;
  phoneNumber?: string | null;
  passwordHash?: string | null;
  status?: UserStatus;
}

export type UserProfilePatch = Partial<
  Pick<User, 'username' | 'email' | 'emailVerified' | 'givenName' | 'familyName' | 'phoneNumber' | 'status'>
>;

/** Usernames compare case-insensitively after trimming and Unicode NFKC normalisation. */
export function normalizeUsername(value: string): string {
  return value.trim().normalize('NFKC').toLowerCase();
}

/** Emails compare case-insensitively (RFC 5321 allows case in the local part; users do not expect it to matter). */
export function normalizeEmail(value: string): string {
  return value.trim().normalize('NFKC').toLowerCase();
}
