package node

import (
	"testing"
)

func TestParseMeminfoNames(t *testing.T) {
	in := "MemTotal:  100 kB\nActive(anon):  2 kB\nHugePages_Total:  3\nNFS_Unstable: 0 kB\n"
	got := map[string]float64{}
	if err := parseMeminfo([]byte(in), nil, func(k []byte, v float64) { got[string(k)] = v }); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"MemTotal_bytes": 102400, "Active_anon_bytes": 2048, "HugePages_Total": 3, "NFS_Unstable_bytes": 0}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if err := parseMeminfo([]byte("garbage\n"), nil, func([]byte, float64) {}); err == nil {
		t.Error("no error on a malformed line")
	}
}

func TestParseStatRejectsGarbage(t *testing.T) {
	var st procStat
	if err := parseStat([]byte("ctxt 1\n"), &st); err == nil {
		t.Error("no error without cpu lines")
	}
	if err := parseStat([]byte("cpu0 1 x 3\n"), &st); err == nil {
		t.Error("no error on a bad number")
	}
}

func TestParsePSI(t *testing.T) {
	some, full, hs, hf, err := parsePSI([]byte("some avg10=1.00 avg60=0.00 avg300=0.00 total=1500000\n"))
	if err != nil || !hs || hf || some != 1500000 || full != 0 {
		t.Errorf("parsePSI = %v %v %v %v %v", some, full, hs, hf, err)
	}
}

func TestParseOSRelease(t *testing.T) {
	m := parseOSRelease([]byte("# c\nNAME=\"Ubuntu\"\nVERSION_ID='22.04'\nPRETTY_NAME=\"A \\\"q\\\"\"\nID=ubuntu\n"))
	if m["NAME"] != "Ubuntu" || m["VERSION_ID"] != "22.04" || m["PRETTY_NAME"] != `A "q"` || m["ID"] != "ubuntu" {
		t.Errorf("parseOSRelease = %v", m)
	}
}

func TestParseNumbers(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "18446744073709551615": 18446744073709551615, "-1": -1, "0.07": 0.07} {
		if got, ok := parseNumber([]byte(in)); !ok || got != want {
			t.Errorf("parseNumber(%q) = %v, %v", in, got, ok)
		}
	}
	if v, ok := parseHex([]byte("0x1003")); !ok || v != 0x1003 {
		t.Errorf("parseHex = %v %v", v, ok)
	}
}
