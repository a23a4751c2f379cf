package scaling

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/storage"
)

// Action is one entry of the audit trail: a scaling vigie did, would have
// done (dry run) or failed to do.
type Action struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	Stack   string    `json:"stack"`
	From    int       `json:"from"`
	To      int       `json:"to"`
	DryRun  bool      `json:"dry_run"`
	// Result is applied, dry_run or failed.
	Result  string   `json:"result"`
	Error   string   `json:"error,omitempty"`
	Reasons []string `json:"reasons"`
}

// Action results.
const (
	ResultApplied = "applied"
	ResultDryRun  = "dry_run"
	ResultFailed  = "failed"
)

// migrations of the scaling component's tables; append only.
var migrations = []string{
	`CREATE TABLE scaling_actions (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		at_ms INTEGER NOT NULL,
		service TEXT NOT NULL,
		stack TEXT NOT NULL,
		from_replicas INTEGER NOT NULL,
		to_replicas INTEGER NOT NULL,
		dry_run INTEGER NOT NULL,
		result TEXT NOT NULL,
		error TEXT NOT NULL,
		reasons TEXT NOT NULL);
	CREATE INDEX scaling_actions_service ON scaling_actions (service, at_ms)`,
}

// audit keeps the trail in the state database.
type audit struct {
	db *sql.DB
}

func openAudit(ctx context.Context, st *storage.State) (*audit, error) {
	if st == nil {
		return nil, nil
	}
	if err := st.Migrate(ctx, "scaling", migrations); err != nil {
		return nil, err
	}
	return &audit{db: st.DB}, nil
}

func (a *audit) record(ctx context.Context, act *Action) error {
	if a == nil {
		return nil
	}
	res, err := a.db.ExecContext(ctx, `INSERT INTO scaling_actions
		(at_ms, service, stack, from_replicas, to_replicas, dry_run, result, error, reasons)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		act.Time.UnixMilli(), act.Service, act.Stack, act.From, act.To, act.DryRun, act.Result, act.Error, strings.Join(act.Reasons, "\n"))
	if err != nil {
		return fmt.Errorf("record scaling action: %w", err)
	}
	act.ID, _ = res.LastInsertId()
	return nil
}

// list returns the newest actions first, of one service when service is set.
func (a *audit) list(ctx context.Context, service string, limit int) ([]Action, error) {
	if a == nil {
		return []Action{}, nil
	}
	rows, err := a.db.QueryContext(ctx, `SELECT id, at_ms, service, stack, from_replicas, to_replicas, dry_run, result, error, reasons
		FROM scaling_actions WHERE (? = '' OR service = ?) ORDER BY id DESC LIMIT ?`, service, service, limit)
	if err != nil {
		return nil, fmt.Errorf("list scaling actions: %w", err)
	}
	defer rows.Close()
	out := []Action{}
	for rows.Next() {
		var act Action
		var at int64
		var reasons string
		if err := rows.Scan(&act.ID, &at, &act.Service, &act.Stack, &act.From, &act.To, &act.DryRun, &act.Result, &act.Error, &reasons); err != nil {
			return nil, fmt.Errorf("list scaling actions: %w", err)
		}
		act.Time = time.UnixMilli(at).UTC()
		act.Reasons = strings.Split(reasons, "\n")
		out = append(out, act)
	}
	return out, rows.Err()
}
