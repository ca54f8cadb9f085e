#pragma once
// dns::Message: RAII owner of an ldns packet (ldns_pkt), for code that needs ldns itself
// (parsing hostile wire data, presentation output). ldns types never appear in headers:
// the packet is held through an opaque pointer.

#include <memory>
#include <string>

#include "common/bytes.hpp"
#include "common/dns/record.hpp"
#include "common/result.hpp"

namespace pkdns::dns {

class Message {
public:
    static Result<Message> parse(ByteView wire);
    static Message from_packet(const Packet& packet);

    Message(Message&&) noexcept;
    Message& operator=(Message&&) noexcept;
    ~Message();

    Packet to_packet() const;
    Bytes to_wire() const;        // ldns encoding
    std::string to_text() const;  // dig-like presentation

private:
    struct Impl;
    explicit Message(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pkdns::dns
