package activation

// MaxNameLen bounds a deployment name.
const MaxNameLen = 64

// ValidName reports whether a deployment name is safe everywhere it goes:
// 1 to MaxNameLen characters from A-Z a-z 0-9 . _ -, starting with a letter
// or digit. Names become file names (the upgrade markers), metric labels and
// log fields, so "../x", "" or a name with spaces or control characters is
// rejected by rule 2 with the reason "bad name".
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
