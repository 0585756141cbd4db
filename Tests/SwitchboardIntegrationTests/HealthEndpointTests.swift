import SwitchboardClient
import SwitchboardHub
import Testing

@Suite("HTTP probes: /healthz, /readyz, /metrics")
struct HealthEndpointTests {
    @Test("a serving hub is healthy and ready, and /metrics counts what it did in Prometheus text")
    func probesAndMetrics() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        #expect(httpGet(http, "/healthz")?.status == 200)
        #expect(httpGet(http, "/readyz")?.status == 200)
        let gateway = try GatewayClient(name: "metrics-gw", endpoint: hub.endpoints.gateway)
        for index in 0..<3 { _ = try gateway.publish(Messages.publish("m-\(index)")) }
        #expect(
            eventually(timeoutMs: 3000) { httpGet(http, "/metrics")?.body.contains("switchboard_acked_total 3") ?? false },
            "\(httpGet(http, "/metrics")?.body ?? "no answer")")
        let metrics = try #require(httpGet(http, "/metrics")).body
        #expect(metrics.contains("# TYPE switchboard_acked_total counter"))
        #expect(metrics.contains("switchboard_routed_total{queue=\"support\"} 3"))
        #expect(metrics.contains("switchboard_database_up 1"))
        // Each message was its own ingest request (the gateway waited for each ACK).
        #expect(metrics.contains("switchboard_store_items_total{lane=\"ingest\"} 3"))
        #expect(metrics.contains("switchboard_store_requests_total{lane=\"ingest\"} 3"))
        #expect(metrics.contains("switchboard_store_microseconds_total{lane=\"dispatch\"} "))
        #expect(httpGet(http, "/nothing")?.status == 404)
    }

    @Test("a hub whose HTTP port is taken refuses to start and says why")
    func portTaken() throws {
        let database = try TestDatabase()
        let first = try RunningHub(RunningHub.config(database))
        defer { first.shutdown() }
        var config = RunningHub.config(database)
        let taken: String = try #require(first.endpoints.http)
        config.httpEndpoint = taken
        #expect {
            _ = try RunningHub(config)
        } throws: { error in
            "\(error)".contains("http_endpoint")
        }
    }
}
