package health

import "testing"

// FuzzParse: a checks file either parses into a valid configuration or is
// refused with an error; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("probes:\n  - name: web\n    url: http://127.0.0.1:1/\n"))
	f.Add([]byte("replicas:\n  - name: mirrors\n    members: [http://127.0.0.1:1/a, http://127.0.0.1:1/b]\n    value: {json: rev}\n"))
	f.Add([]byte("probes: [{name: x}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if c == nil {
			t.Fatal("nil configuration without an error")
		}
	})
}
