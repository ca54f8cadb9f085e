#pragma once
// The ICANN side as the pipeline sees it: the Forwarder (resolver/upstream/) or a fake.

#include <functional>

#include "common/dns/record.hpp"
#include "common/result.hpp"

namespace pkdns::pipeline {

// `done` runs exactly once, with the upstream's reply to `question` or why there is none.
struct Upstream {
    using Done = std::function<void(Result<dns::Packet>)>;
    virtual ~Upstream() = default;
    virtual void forward(const dns::Question& question, bool dnssec_ok, Done done) = 0;
};

}  // namespace pkdns::pipeline
