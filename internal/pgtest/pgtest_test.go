package pgtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestCluster(t *testing.T) {
	c := Start(t, Options{MaxConnections: 7})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c.MustExec(`CREATE ROLE app LOGIN PASSWORD 'right'`)
	conn, err := pgx.Connect(ctx, c.DSN("app", "right", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var maxConn string
	if err := conn.QueryRow(ctx, "SHOW max_connections").Scan(&maxConn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if maxConn != "7" {
		t.Errorf("max_connections = %s, want 7", maxConn)
	}

	// Password authentication is enforced over TCP.
	_, err = pgx.Connect(ctx, c.DSN("app", "wrong", "postgres"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("wrong password: err = %v, want SQLSTATE 28P01", err)
	}

	// Stop refuses connections; Start brings the same data back.
	c.Stop()
	if conn, err := pgx.Connect(ctx, c.SuperuserDSN("postgres")); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, c.DSN("app", "right", "postgres"))
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	conn.Close(ctx)
}
