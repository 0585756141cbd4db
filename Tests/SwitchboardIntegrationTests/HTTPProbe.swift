import SwitchboardHub

/// One HTTP GET of the hub's probes: the status code and body, or nil when nothing answered.
func httpGet(_ hostPort: String, _ path: String) -> (status: Int, body: String)? { HealthProbe.get(hostPort, path) }
