#include "common/sha1.hpp"

#include <stdbool.h>  // before ldns: it defines bool/true/false otherwise (design §6)

#include <ldns/sha1.h>

namespace pkdns {

Sha1 sha1(ByteView data) {
    Sha1 out{};
    ldns_sha1(const_cast<unsigned char*>(data.data()), static_cast<unsigned int>(data.size()), out.data());
    return out;
}

}  // namespace pkdns
