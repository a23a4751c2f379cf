package systemd

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/dbus"
)

// dbusManager is Manager over go-systemd's D-Bus client, read-only: it only
// lists units and reads properties.
type dbusManager struct{ conn *dbus.Conn }

var _ Manager = (*dbusManager)(nil)

// DialDBus connects to systemd: on the system bus, or with private on
// systemd's own socket.
func DialDBus(ctx context.Context, private bool) (Manager, error) {
	var conn *dbus.Conn
	var err error
	if private {
		conn, err = dbus.NewSystemdConnectionContext(ctx)
	} else {
		conn, err = dbus.NewSystemConnectionContext(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &dbusManager{conn: conn}, nil
}

func (m *dbusManager) ListUnits(ctx context.Context) ([]Unit, error) {
	st, err := m.conn.ListUnitsContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Unit, len(st))
	for i, u := range st {
		out[i] = Unit{Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState}
	}
	return out, nil
}

func (m *dbusManager) UnitTypeProperty(ctx context.Context, unit, unitType, name string) (any, error) {
	p, err := m.conn.GetUnitTypePropertyContext(ctx, unit, unitType, name)
	if err != nil {
		return nil, err
	}
	return p.Value.Value(), nil
}

func (m *dbusManager) UnitProperty(ctx context.Context, unit, name string) (any, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, name)
	if err != nil {
		return nil, err
	}
	return p.Value.Value(), nil
}

// ManagerProperty returns a string property of the manager, unquoted (the
// client formats it as a D-Bus variant, "\"running\"").
func (m *dbusManager) ManagerProperty(_ context.Context, name string) (string, error) {
	v, err := m.conn.GetManagerProperty(name)
	if err != nil {
		return "", err
	}
	if s, err := strconv.Unquote(v); err == nil {
		return s, nil
	}
	return strings.Trim(v, `"`), nil
}

func (m *dbusManager) Close() { m.conn.Close() }

// toFloat reads the numeric D-Bus types systemd's properties use.
func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case uint64:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("unexpected D-Bus value %T %v", v, v)
}
