package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/input"
)

// formText are the form fields that hold free text, where tabs and line
// breaks belong; every other field is one line (input.Line).
var formText = map[string]bool{"description": true}

// formSecret are the fields never stored nor shown, only hashed: a
// password is whatever its owner typed, and refusing a character at
// sign-in would lock out whoever set it before.
var formSecret = map[string]bool{"password": true, "current_password": true, "new_password": true, "new_password_again": true}

// checkForm is the pages' door: a form post whose fields (names and
// values) are not UTF-8, or hold a NUL or a control character where the
// field does not take one, is answered 400, naming the field, before any
// handler reads it; so is a path whose ids (a route's parameters) do.
// Nothing is hashed, looked up or stored for them.
func (h *webHandlers) checkForm(c *gin.Context) {
	for _, p := range c.Params {
		if input.Check(p.Key, p.Value, input.Line) != nil {
			h.message(c, http.StatusNotFound, "No such page", "The address holds characters no id of ours has. Nothing was changed.")
			c.Abort()
			return
		}
	}
	if c.Request.Method != http.MethodPost {
		return
	}
	// webHeaders bounds the body, so this reads at most 64 KiB.
	if err := c.Request.ParseMultipartForm(64 << 10); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		h.message(c, http.StatusBadRequest, "This form cannot be sent", "The form could not be read: it is too large or malformed. Nothing was changed.")
		c.Abort()
		return
	}
	for name, values := range c.Request.PostForm {
		if input.Check("", name, input.Line) != nil {
			h.message(c, http.StatusBadRequest, "This form cannot be sent", "A field's name is not one line of text. Nothing was changed.")
			c.Abort()
			return
		}
		if formSecret[name] {
			continue
		}
		kind := input.Line
		if formText[name] {
			kind = input.Text
		}
		for _, v := range values {
			if err := input.Check(name, v, kind); err != nil {
				h.badField(c, err)
				return
			}
		}
	}
}

func (h *webHandlers) badField(c *gin.Context, err error) {
	var ie *input.Error
	msg := err.Error()
	if errors.As(err, &ie) {
		msg = "The field “" + ie.Field + "” " + ie.Problem
	}
	h.message(c, http.StatusBadRequest, "This form cannot be sent", msg+". Nothing was changed: go back, correct it and send the form again.")
	c.Abort()
}
