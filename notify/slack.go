package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/vigie-dev/vigie/config"
)

// slackNotifier posts Block Kit messages through an incoming webhook or,
// with a bot token, chat.postMessage; with a bot token the group's later
// notifications update the first message and answer in its thread.
type slackNotifier struct {
	conf   SlackConfig
	url    config.Secret
	token  config.Secret
	http   *http.Client
	client *slack.Client
}

var _ Integration = (*slackNotifier)(nil)

func newSlack(c SlackConfig) (*slackNotifier, error) {
	u, err := config.ResolveSecret(c.APIURL, c.APIURLFile, "api_url")
	if err != nil {
		return nil, err
	}
	tok, err := config.ResolveSecret(c.AppToken, c.AppTokenFile, "app_token")
	if err != nil {
		return nil, err
	}
	if u == "" && tok == "" {
		return nil, errors.New("missing api_url or app_token")
	}
	s := &slackNotifier{conf: c, url: u, token: tok, http: newHTTPClient(nil)}
	if tok != "" {
		base := c.AppURL
		if base == "" {
			base = "https://slack.com/api/"
		}
		// Alertmanager's app_url is the full chat.postMessage URL; slack-go wants the API base.
		base = strings.TrimSuffix(base, "chat.postMessage")
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		s.client = slack.New(tok.Value(), slack.OptionAPIURL(base), slack.OptionHTTPClient(s.http))
	}
	return s, nil
}

func (s *slackNotifier) Notify(ctx context.Context, m *Message) (Result, bool, error) {
	title, blocks, err := SlackMessage(m.Data, s.conf)
	if err != nil {
		return Result{}, false, err
	}
	if s.client == nil {
		msg := &slack.WebhookMessage{
			Text: title, Blocks: &slack.Blocks{BlockSet: blocks},
			Channel: s.conf.Channel, Username: s.conf.Username, IconEmoji: s.conf.IconEmoji, IconURL: s.conf.IconURL,
		}
		if err := slack.PostWebhookCustomHTTPContext(ctx, s.url.Value(), s.http, msg); err != nil {
			return s.fail(err)
		}
		return Result{Response: "ok"}, false, nil
	}
	opts := []slack.MsgOption{slack.MsgOptionText(title, false), slack.MsgOptionBlocks(blocks...)}
	if s.conf.Username != "" {
		opts = append(opts, slack.MsgOptionUsername(s.conf.Username))
	}
	if s.conf.IconEmoji != "" {
		opts = append(opts, slack.MsgOptionIconEmoji(s.conf.IconEmoji))
	}
	if s.conf.IconURL != "" {
		opts = append(opts, slack.MsgOptionIconURL(s.conf.IconURL))
	}
	if ch, ts, ok := strings.Cut(m.ThreadRef, " "); ok {
		// Update the group's message in place, then answer in its thread so
		// the people following it are told.
		if _, _, _, err := s.client.UpdateMessageContext(ctx, ch, ts, opts...); err != nil {
			return s.fail(err)
		}
		reply := title
		if m.Data.Status == "resolved" {
			reply = ":white_check_mark: " + title
		}
		_, rts, err := s.client.PostMessageContext(ctx, ch, slack.MsgOptionText(reply, false), slack.MsgOptionTS(ts))
		if err != nil {
			return s.fail(err)
		}
		return Result{Response: fmt.Sprintf("ok: updated %s, replied %s in thread", ts, rts), ThreadRef: m.ThreadRef}, false, nil
	}
	ch, ts, err := s.client.PostMessageContext(ctx, s.conf.Channel, opts...)
	if err != nil {
		return s.fail(err)
	}
	return Result{Response: fmt.Sprintf("ok: channel %s ts %s", ch, ts), ThreadRef: ch + " " + ts}, false, nil
}

func (s *slackNotifier) fail(err error) (Result, bool, error) {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &rl):
		return Result{RetryAfter: rl.RetryAfter}, true, &statusError{code: http.StatusTooManyRequests, body: "rate limited, retry after " + rl.RetryAfter.String()}
	case errors.As(err, &sc):
		return Result{}, retryHTTP(sc.Code), &statusError{code: sc.Code}
	case errors.As(err, &se):
		// An API error (channel_not_found, invalid_auth, ...): the request was understood and refused.
		return Result{}, false, redact(fmt.Errorf("slack: %s", se.Err), s.token, s.url)
	}
	return Result{}, true, redact(fmt.Errorf("slack: %w", err), s.token, s.url)
}

// slackLabelsSkipped are shown elsewhere in the message.
var slackLabelsSkipped = map[string]bool{"alertname": true, "severity": true}

// SlackMessage builds the Block Kit message of a notification: a header
// with status, count and group; per alert (at most 10) the alert name,
// severity, summary, value and the labels that matter; links to the runbook,
// the source, vigie and the acknowledgement. It returns the fallback text too.
func SlackMessage(d *Data, c SlackConfig) (string, []slack.Block, error) {
	titleT := DefaultSlackTitle
	if c.Title != "" {
		titleT = c.Title
	}
	title, err := renderText("title", titleT, d)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", errTemplate, err)
	}
	title = strings.Join(strings.Fields(title), " ")
	emoji := ":red_circle:"
	if d.Status == "resolved" {
		emoji = ":large_green_circle:"
	}
	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(emoji+" "+title, 148), true, false)))
	if d.Fallback != nil {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType,
			truncate(fmt.Sprintf(":warning: Sent here because receiver *%s* (%s) keeps failing: %s", d.Fallback.Receiver, d.Fallback.Integration, d.Fallback.Error), 2900), false, false), nil, nil))
	}
	if c.Text != "" {
		text, err := renderText("text", c.Text, d)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %w", errTemplate, err)
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(text, 2900), false, false), nil, nil))
		return title, blocks, nil
	}
	const maxAlerts = 10
	for i, a := range d.Alerts {
		if i == maxAlerts {
			blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, fmt.Sprintf("and %d more alerts", len(d.Alerts)-maxAlerts), false, false)))
			break
		}
		var b strings.Builder
		state := ":fire:"
		if a.Status == "resolved" {
			state = ":white_check_mark:"
		}
		fmt.Fprintf(&b, "%s *%s*", state, slackEscape(a.Labels["alertname"]))
		if sev := a.Labels["severity"]; sev != "" {
			fmt.Fprintf(&b, "  `%s`", slackEscape(sev))
		}
		if s := a.Annotations["summary"]; s != "" {
			fmt.Fprintf(&b, "\n%s", slackEscape(s))
		} else if s := a.Annotations["description"]; s != "" {
			fmt.Fprintf(&b, "\n%s", slackEscape(s))
		}
		if v := a.Annotations["value"]; v != "" {
			fmt.Fprintf(&b, "\n*Value:* %s", slackEscape(v))
		}
		// What explains the alert, when the composition root added it: a
		// job's exit code and output, a log source's last lines.
		if v := a.Annotations["exit_code"]; v != "" {
			fmt.Fprintf(&b, "\n*Exit code:* %s", slackEscape(v))
		}
		for _, k := range []string{"output", "log_lines"} {
			if v := a.Annotations[k]; v != "" {
				fmt.Fprintf(&b, "\n```%s```", slackEscape(strings.ReplaceAll(v, "```", "'''")))
			}
		}
		var fields []*slack.TextBlockObject
		for _, p := range a.Labels.SortedPairs() {
			if slackLabelsSkipped[p.Name] || len(fields) == 10 {
				continue
			}
			fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, truncate(fmt.Sprintf("*%s*\n%s", slackEscape(p.Name), slackEscape(p.Value)), 1900), false, false))
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(b.String(), 2900), false, false), fields, nil))
		var links []string
		if u := a.Annotations["runbook_url"]; isHTTPURL(u) {
			links = append(links, fmt.Sprintf("<%s|Runbook>", u))
		}
		if isHTTPURL(a.GeneratorURL) {
			links = append(links, fmt.Sprintf("<%s|Source>", a.GeneratorURL))
		}
		if isHTTPURL(a.AckURL) {
			links = append(links, fmt.Sprintf("<%s|Acknowledge>", a.AckURL))
		}
		if a.Status == "resolved" {
			links = append(links, "resolved "+a.EndsAt.UTC().Format("2006-01-02 15:04 MST"))
		} else {
			links = append(links, "since "+a.StartsAt.UTC().Format("2006-01-02 15:04 MST"))
		}
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, strings.Join(links, " · "), false, false)))
	}
	if isHTTPURL(d.ExternalURL) {
		blocks = append(blocks, slack.NewActionBlock("", slack.NewButtonBlockElement("", "", slack.NewTextBlockObject(slack.PlainTextType, "Open vigie", false, false)).WithURL(d.ExternalURL)))
	}
	return title, blocks, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return s != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// slackEscape escapes the three characters Slack's mrkdwn treats as control.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
