package redact

import (
	"errors"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`parse "postgres://u:pw@h:x/db": invalid port`, `parse "postgres://u:xxxxx@h:x/db": invalid port`},
		{`parse "redis://u:p@w@h/0"`, `parse "redis://u:xxxxx@h/0"`},
		{`no password in postgres://u@h:5432/db`, `no password in postgres://u@h:5432/db`},
		{`host=h password=pw user=u`, `host=h password=xxxxx user=u`},
		{`host=h password = 'p w\' x' user=u`, `host=h password = xxxxx user=u`},
		{`plain text`, `plain text`},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Text("it was hunter2 all along", "hunter2"); got != "it was xxxxx all along" {
		t.Errorf("Text with a secret = %q", got)
	}
}

func TestError(t *testing.T) {
	clean := errors.New("connection refused")
	if got := Error(clean, "hunter2"); got != clean {
		t.Errorf("Error changed an error without a secret: %v", got)
	}
	dirty := errors.New("auth failed for hunter2")
	got := Error(dirty, "hunter2")
	if got.Error() != "auth failed for xxxxx" || errors.Is(got, dirty) {
		t.Errorf("Error = %v (unwraps to the original: %v)", got, errors.Is(got, dirty))
	}
	if Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}
