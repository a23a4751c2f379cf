// The signed acknowledgement link's page posts its form once loaded: a
// person's browser acknowledges in one click; link previews do not run it.
document.forms[0].submit();
