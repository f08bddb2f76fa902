package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/teams"
)

// usagePages is the assistant usage page: a month of credits per day, by
// model, and for a team's admins by member too. Drawn on the server as SVG.
type usagePages struct {
	h         *webHandlers
	assistant *assistant.Service
	teams     *teams.Service
	now       func() time.Time
}

func mountUsagePages(web *gin.RouterGroup, d Deps, h *webHandlers) {
	p := &usagePages{h: h, assistant: d.Assistant, teams: d.Teams, now: time.Now}
	web.GET("/usage", p.page)
}

var usageTemplate = template.Must(template.New("usage").Funcs(template.FuncMap{
	"usageLink": usageLink,
	"teamID": func(m *access.Membership) string {
		if m == nil {
			return ""
		}
		return m.Team.ID
	},
}).ParseFS(webTemplateFS, "templates/layout.html", "templates/usage.html"))

// usageView is what usage.html shows.
type usageView struct {
	webPage
	Month, PrevMonth, NextMonth string
	// Team is the team shown, nil for the user's own usage.
	Team *access.Membership
	// Teams are those whose usage the user may see (they manage members).
	Teams   []access.Membership
	By      string // "model" or "member"
	Chart   template.HTML
	Totals  []usageTotal
	Balance *int64
	Empty   bool
}

// usageTotal is one row of the table under the chart.
type usageTotal struct {
	Name                               string
	Calls, Prompt, Completion, Credits int64
}

func (p *usagePages) page(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, c.Request.URL.RequestURI())
		return
	}
	ctx := c.Request.Context()
	v := usageView{webPage: webPage{Title: "Assistant usage", CSRF: sess.CSRF}, By: c.DefaultQuery("by", "model")}

	now := p.now().UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if m := c.Query("month"); m != "" {
		t, err := time.Parse("2006-01", m)
		if err != nil {
			p.h.message(c, http.StatusBadRequest, "No such month", "The month must look like 2026-11 (year, dash, month).")
			return
		}
		start = t
	}
	end := start.AddDate(0, 1, 0)
	v.Month, v.PrevMonth, v.NextMonth = start.Format("2006-01"), start.AddDate(0, -1, 0).Format("2006-01"), end.Format("2006-01")

	var err error
	if v.Teams, err = p.teams.Administered(ctx, teamActor(sess)); err != nil {
		p.h.unavailable(c, err)
		return
	}
	var rows []assistant.UsageRow
	if team := c.Query("team"); team != "" {
		var m access.Membership
		m, rows, err = p.teams.Usage(ctx, teamActor(sess), team, start, end)
		v.Team = &m
	} else if v.By == "model" {
		rows, err = p.assistant.Usage(ctx, assistant.UsageFilter{UserID: sess.Account.ID, From: start, To: end})
	}
	switch {
	case errors.Is(err, teams.ErrUsageAdminsOnly):
		// A member who is not an admin learns why; anyone else learns
		// nothing about the team.
		p.h.message(c, http.StatusForbidden, "Only admins see this", "A team's usage is shown to its admins. Ask one of them.")
		return
	case errors.Is(err, teams.ErrNoTeam), errors.Is(err, teams.ErrOutsideTeam):
		p.h.message(c, http.StatusNotFound, "No such team", "There is no team with this id that you belong to.")
		return
	case err != nil:
		p.h.unavailable(c, err)
		return
	case v.By != "model" && (v.By != "member" || v.Team == nil):
		p.h.message(c, http.StatusBadRequest, "No such view", "Usage is shown by model, or for a team by member.")
		return
	}
	if v.Team == nil {
		balance, err := p.assistant.Balance(ctx, sess.Account.ID)
		if err != nil {
			p.h.unavailable(c, err)
			return
		}
		v.Balance = &balance
	}
	var days []time.Time
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	key := func(r assistant.UsageRow) string { return r.Model }
	if v.By == "member" {
		key = func(r assistant.UsageRow) string { return r.UserEmail }
	}
	index := map[string]int{}
	var series []chartSeries
	for _, r := range rows {
		k := key(r)
		i, seen := index[k]
		if !seen {
			i = len(series)
			index[k] = i
			series = append(series, chartSeries{Name: k, Values: make([]int64, len(days))})
			v.Totals = append(v.Totals, usageTotal{Name: k})
		}
		series[i].Values[r.Day.Day()-1] += r.Credits
		t := &v.Totals[i]
		t.Calls += r.Calls
		t.Prompt += r.PromptTokens
		t.Completion += r.CompletionTokens
		t.Credits += r.Credits
	}
	v.Empty = len(rows) == 0
	v.Chart = stackedBars(days, series, "credits")

	if sessAcc := sess.Account; v.Account == nil {
		v.Account = &sessAcc
	}
	var buf bytes.Buffer
	if err := usageTemplate.ExecuteTemplate(&buf, "layout", v); err != nil {
		p.h.unavailable(c, errors.Join(errors.New("render usage page"), err))
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// usageLink keeps the page's other choices when one changes.
func usageLink(month, team, by string) string {
	q := url.Values{"month": {month}}
	if team != "" {
		q.Set("team", team)
	}
	if by != "" && by != "model" {
		q.Set("by", by)
	}
	return "/usage?" + q.Encode()
}
