-- Each hub's last start and clean stop. A hub that finds its own row started and not stopped
-- knows its previous run died (kill -9, power loss): offers it made may never have been written,
-- so workers are given time to reclaim what they hold before anything is offered.
CREATE TABLE hubs (
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    stopped_at  timestamptz
);
