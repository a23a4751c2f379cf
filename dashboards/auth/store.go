package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// migrations are the auth component's tables in the state database. A
// released migration is never edited, only appended to.
var migrations = []string{
	`CREATE TABLE auth_users (
		name TEXT PRIMARY KEY,
		hash TEXT NOT NULL,
		role TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE auth_sessions (
		id_hash TEXT PRIMARY KEY,
		user TEXT NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,
		csrf TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE TABLE auth_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		scope TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created_at INTEGER NOT NULL,
		revoked_at INTEGER
	);
	CREATE TABLE auth_audit (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		at INTEGER NOT NULL,
		event TEXT NOT NULL,
		user TEXT NOT NULL,
		client TEXT NOT NULL,
		detail TEXT NOT NULL
	);`,
}

// Roles and token scopes.
const (
	ScopeRead  = "read"
	ScopeAdmin = "admin"
)

// Errors a caller can tell apart.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// User is a stored user, without its hash.
type User struct {
	Name      string
	Role      string
	CreatedAt time.Time
}

// Token is a stored API token, without its secret.
type Token struct {
	ID        string
	Name      string
	Scope     string
	CreatedAt time.Time
	RevokedAt time.Time
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	At     time.Time
	Event  string
	User   string
	Client string
	Detail string
}

// Store keeps users, sessions, tokens and the audit log in the state database.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// NewStore migrates the auth tables of db and returns the store. now
// defaults to time.Now.
func NewStore(ctx context.Context, db *sql.DB, now func() time.Time, migrate func(ctx context.Context, component string, migrations []string) error) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := migrate(ctx, "auth", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, now: now}, nil
}

func validScope(s string) error {
	if s != ScopeRead && s != ScopeAdmin {
		return fmt.Errorf("%w: scope must be read or admin, got %q", ErrInvalid, s)
	}
	return nil
}

// AddUser creates a user with role read or admin.
func (s *Store) AddUser(ctx context.Context, name, password, role string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("%w: user name %v", ErrInvalid, err)
	}
	if err := validScope(role); err != nil {
		return err
	}
	if len(password) < 8 {
		return fmt.Errorf("%w: the password must be at least 8 characters long", ErrInvalid)
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO auth_users (name, hash, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		name, h, role, s.now().Unix())
	if err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", name, ErrExists)
	}
	return nil
}

// SetPassword replaces a user's password and ends its sessions.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if len(password) < 8 {
		return fmt.Errorf("%w: the password must be at least 8 characters long", ErrInvalid)
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE auth_users SET hash = ? WHERE name = ?`, h, name)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM auth_sessions WHERE user = ?`, name)
	return err
}

// RemoveUser deletes a user and its sessions.
func (s *Store) RemoveUser(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_users WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("remove user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return nil
}

// Users lists the users by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, created_at FROM auth_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var at int64
		if err := rows.Scan(&u.Name, &u.Role, &at); err != nil {
			return nil, err
		}
		u.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// CheckPassword returns the user when password is right; ok is false for
// an unknown user or a wrong password (a hash is computed either way, so
// the answer's time does not tell which).
func (s *Store) CheckPassword(ctx context.Context, name, password string) (u User, ok bool, err error) {
	var hash string
	var at int64
	err = s.db.QueryRowContext(ctx, `SELECT name, role, hash, created_at FROM auth_users WHERE name = ?`, name).Scan(&u.Name, &u.Role, &hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		_, _ = checkPassword(dummyHash, password)
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("check password: %w", err)
	}
	ok, err = checkPassword(hash, password)
	if err != nil {
		return User{}, false, fmt.Errorf("check password of %s: %w", name, err)
	}
	u.CreatedAt = time.Unix(at, 0).UTC()
	return u, ok, nil
}

// dummyHash is checked for unknown users (the password of this hash is random).
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// Credentials counts the users and the live tokens.
func (s *Store) Credentials(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM auth_users) + (SELECT COUNT(*) FROM auth_tokens WHERE revoked_at IS NULL)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count credentials: %w", err)
	}
	return n, nil
}

// randomString is n random bytes, base64url.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is the stored form of a session id or a token: its SHA-256.
func digest(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// TokenPrefix starts every API token, so secret scanners can find them.
const TokenPrefix = "vigie_"

// CreateToken makes an API token; the secret is returned once and only
// its digest is stored.
func (s *Store) CreateToken(ctx context.Context, name, scope string) (Token, string, error) {
	if err := validScope(scope); err != nil {
		return Token{}, "", err
	}
	if name == "" || len(name) > 100 {
		return Token{}, "", fmt.Errorf("%w: a token's name must be 1 to 100 characters long", ErrInvalid)
	}
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	t := Token{ID: hex.EncodeToString(id), Name: name, Scope: scope, CreatedAt: s.now().UTC().Truncate(time.Second)}
	secret := TokenPrefix + randomString(32)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_tokens (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Scope, digest(secret), t.CreatedAt.Unix()); err != nil {
		return Token{}, "", fmt.Errorf("create token %s: %w", name, err)
	}
	return t, secret, nil
}

// RevokeToken revokes a token by id.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return nil
}

// Tokens lists the tokens, newest first.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, scope, created_at, COALESCE(revoked_at, 0) FROM auth_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var cr, rv int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Scope, &cr, &rv); err != nil {
			return nil, err
		}
		t.CreatedAt = time.Unix(cr, 0).UTC()
		if rv != 0 {
			t.RevokedAt = time.Unix(rv, 0).UTC()
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TokenBySecret returns the live token whose secret this is.
func (s *Store) TokenBySecret(ctx context.Context, secret string) (Token, bool, error) {
	var t Token
	var cr int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, scope, created_at FROM auth_tokens WHERE hash = ? AND revoked_at IS NULL`, digest(secret)).
		Scan(&t.ID, &t.Name, &t.Scope, &cr)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, fmt.Errorf("look up token: %w", err)
	}
	t.CreatedAt = time.Unix(cr, 0).UTC()
	return t, true, nil
}

// Session is a logged-in browser.
type Session struct {
	User      User
	CSRF      string
	ExpiresAt time.Time
}

// CreateSession starts a session for user; the id is returned once and
// only its digest is stored.
func (s *Store) CreateSession(ctx context.Context, user string, lifetime time.Duration) (string, Session, error) {
	id, csrf := randomString(32), randomString(32)
	now := s.now()
	exp := now.Add(lifetime)
	if _, err := s.db.ExecContext(ctx, `DELETE FROM auth_sessions WHERE expires_at < ?`, now.Unix()); err != nil {
		return "", Session{}, fmt.Errorf("expire sessions: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_sessions (id_hash, user, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		digest(id), user, csrf, now.Unix(), exp.Unix()); err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return id, Session{User: User{Name: user}, CSRF: csrf, ExpiresAt: exp}, nil
}

// Session returns the live session with this id.
func (s *Store) Session(ctx context.Context, id string) (Session, bool, error) {
	var ss Session
	var exp int64
	err := s.db.QueryRowContext(ctx, `SELECT s.user, u.role, s.csrf, s.expires_at FROM auth_sessions s JOIN auth_users u ON u.name = s.user WHERE s.id_hash = ?`, digest(id)).
		Scan(&ss.User.Name, &ss.User.Role, &ss.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("look up session: %w", err)
	}
	ss.ExpiresAt = time.Unix(exp, 0)
	if !s.now().Before(ss.ExpiresAt) {
		return Session{}, false, nil
	}
	return ss, true, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, digest(id))
	return err
}

// Audit records an event (login, login_failed, logout, token_created, …).
func (s *Store) Audit(ctx context.Context, event, user, client, detail string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_audit (at, event, user, client, detail) VALUES (?, ?, ?, ?, ?)`,
		s.now().UnixMilli(), event, user, client, detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", event, err)
	}
	return nil
}

// AuditLog returns the newest entries first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, event, user, client, detail FROM auth_audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Event, &e.User, &e.Client, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
