package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/vigie-dev/vigie/config"
)

// email sends notifications over SMTP with go-mail.
type email struct {
	conf       EmailConfig
	password   config.Secret
	host       string
	port       int
	implicit   bool
	requireTLS bool
	tls        *tls.Config
	to         []string
	domain     string
}

var _ Integration = (*email)(nil)

func newEmail(c EmailConfig) (*email, error) {
	pw, err := config.ResolveSecret(c.AuthPassword, c.AuthPasswordFile, "auth_password")
	if err != nil {
		return nil, err
	}
	host, portS, err := net.SplitHostPort(c.Smarthost)
	if err != nil {
		return nil, fmt.Errorf("smarthost: %w", err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("smarthost: invalid port %q", portS)
	}
	tc, err := newTLSConfig(c.TLSConfig, host)
	if err != nil {
		return nil, err
	}
	list, err := mail.ParseAddressList(c.To)
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	e := &email{conf: c, password: pw, host: host, port: port, tls: tc,
		implicit: boolOr(c.ImplicitTLS, port == 465), requireTLS: boolOr(c.RequireTLS, true)}
	for _, a := range list {
		e.to = append(e.to, a.Address)
	}
	if from, err := mail.ParseAddress(c.From); err == nil {
		if _, d, ok := strings.Cut(from.Address, "@"); ok {
			e.domain = d
		}
	}
	if e.domain == "" {
		e.domain = "vigie.localhost"
	}
	return e, nil
}

func (e *email) Notify(ctx context.Context, m *Message) (Result, bool, error) {
	d := m.Data
	subjectT := DefaultEmailSubject
	headers := map[string]string{}
	for k, v := range e.conf.Headers {
		if strings.EqualFold(k, "subject") {
			subjectT = v
			continue
		}
		headers[k] = v
	}
	subject, err := renderText("subject", subjectT, d)
	if err != nil {
		return Result{}, false, fmt.Errorf("%w: %w", errTemplate, err)
	}
	textT, htmlT := DefaultEmailText, DefaultEmailHTML
	if e.conf.Text != "" {
		textT = e.conf.Text
	}
	if e.conf.HTML != "" {
		htmlT = e.conf.HTML
	}
	text, err := renderText("text", textT, d)
	if err != nil {
		return Result{}, false, fmt.Errorf("%w: %w", errTemplate, err)
	}
	html, err := renderHTML("html", htmlT, d)
	if err != nil {
		return Result{}, false, fmt.Errorf("%w: %w", errTemplate, err)
	}

	msg := gomail.NewMsg()
	if err := msg.From(e.conf.From); err != nil {
		return Result{}, false, fmt.Errorf("from: %w", err)
	}
	if err := msg.To(e.to...); err != nil {
		return Result{}, false, fmt.Errorf("to: %w", err)
	}
	msg.Subject(strings.Join(strings.Fields(subject), " "))
	sum := sha256.Sum256([]byte(d.GroupKey))
	id := fmt.Sprintf("vigie.%x.%d@%s", sum[:8], time.Now().UnixNano(), e.domain)
	msg.SetMessageIDWithValue(id)
	ref := m.ThreadRef
	if ref != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, ref)
		msg.SetGenHeader(gomail.HeaderReferences, ref)
	} else {
		ref = "<" + id + ">"
	}
	for k, v := range headers {
		val, err := renderText("header "+k, v, d)
		if err != nil {
			return Result{}, false, fmt.Errorf("%w: %w", errTemplate, err)
		}
		msg.SetGenHeader(gomail.Header(k), val)
	}
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)

	opts := []gomail.Option{gomail.WithPort(e.port), gomail.WithTLSConfig(e.tls)}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, gomail.WithTimeout(time.Until(dl)))
	}
	switch {
	case e.implicit:
		opts = append(opts, gomail.WithSSL())
	case e.requireTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if e.conf.Hello != "" {
		opts = append(opts, gomail.WithHELO(e.conf.Hello))
	}
	if e.conf.AuthUsername != "" {
		mech := gomail.SMTPAuthPlain
		if strings.EqualFold(e.conf.AuthMechanism, "LOGIN") {
			mech = gomail.SMTPAuthLogin
		}
		if !e.implicit && !e.requireTLS {
			// The user chose clear text; go-mail refuses PLAIN/LOGIN there unless told.
			mech += "-NOENC"
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(e.conf.AuthUsername), gomail.WithPassword(e.password.Value()))
	}
	client, err := gomail.NewClient(e.host, opts...)
	if err != nil {
		return Result{}, false, redact(fmt.Errorf("smtp client: %w", err), e.password)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		retry := true
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() != 535 {
			// A permanent rejection of the message (bad recipient, too big): retrying won't help.
			// Authentication failures (535) are retried: a fixed password fixes them.
			retry = false
		}
		return Result{}, retry, redact(fmt.Errorf("smtp %s: %w", net.JoinHostPort(e.host, strconv.Itoa(e.port)), err), e.password)
	}
	return Result{Response: truncate(msg.ServerResponse(), 300), ThreadRef: ref}, false, nil
}
