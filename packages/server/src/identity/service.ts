import type { NewUser, User } from './model.js';
import type { RoleRepository, TenantRepository, UserRepository } from './repository.js';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from './password.js';
import { isStorableText } from '../storage/text.js';

export interface IdentityDeps {
  users: UserRepository;
  tenants: TenantRepository;
  roles: RoleRepository;
}

export type LoginOutcome =
  | { ok: true; user: User }
  | { ok: false; reason: 'invalid_credentials' | 'inactive' };

/**
 * Identity domain logic, free of HTTP. The login pipeline is a list of named
 * steps (find user → check password → check status → upgrade hash) so later
 * features (lockout, MFA) slot in as further steps.
 */
export class IdentityService {
  constructor(private readonly deps: IdentityDeps) {}

  get users(): UserRepository {
    return this.deps.users;
  }

  /** @throws ConflictError when username or email is taken in the tenant. */
  async createUser(input: Omit<NewUser, 'passwordHash'> & { password?: string; roles?: string[] }): Promise<User> {
    const { password, roles, ...rest } = input;
    const passwordHash = password ? await hashPassword(password) : null;
    const user = await this.deps.users.create({ ...rest, passwordHash });
    if (roles?.length) {
      await this.deps.users.setRoles(user.id, user.tenantId, roles);
      return { ...user, roles: [...new Set(roles)].sort() };
    }
    return user;
  }

  /** Finds a user by username or, if the login contains '@', by email as well. */
  async findByLogin(tenantId: string, login: string): Promise<User | undefined> {
    if (!isStorableText(login)) return undefined; // typed into a form, so it may hold a NUL (see storage/text.ts)
    const byName = await this.deps.users.findByUsername(tenantId, login);
    if (byName || !login.includes('@')) return byName;
    return this.deps.users.findByEmail(tenantId, login);
  }

  /**
   * Password login. Unknown users still cost one argon2 verification, and all
   * failures are reported to the caller as one reason, so the answer never says
   * whether the account exists.
   */
  async verifyLogin(tenantId: string, login: string, password: string): Promise<LoginOutcome> {
    const user = await this.findByLogin(tenantId, login);
    const stored = user?.passwordHash ?? (await dummyHash());
    const valid = await verifyPassword(stored, password);
    if (!user || !user.passwordHash || !valid) return { ok: false, reason: 'invalid_credentials' };
    if (user.status !== 'active') return { ok: false, reason: 'inactive' };
    if (needsRehash(user.passwordHash)) {
      await this.deps.users.setPasswordHash(user.id, await hashPassword(password));
    }
    return { ok: true, user };
  }

  /** True when `password` matches the user's stored hash (used to keep config apply idempotent). */
  async passwordMatches(user: User, password: string): Promise<boolean> {
    return user.passwordHash ? verifyPassword(user.passwordHash, password) : false;
  }

  async setPassword(userId: string, password: string): Promise<void> {
    await this.deps.users.setPasswordHash(userId, await hashPassword(password));
  }
}
