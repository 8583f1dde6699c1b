package bus

import "testing"

func TestFreeRoutePortsAreDistinct(t *testing.T) {
	ports, err := FreeRoutePorts(200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d picked twice in %v", p, ports)
		}
		seen[p] = true
	}
	if len(ports) != 200 {
		t.Fatalf("%d ports, want 200", len(ports))
	}
}
