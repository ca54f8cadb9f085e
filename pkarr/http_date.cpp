#include "pkarr/http_date.hpp"

#include <array>
#include <chrono>

namespace pkdns::pkarr {

namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> short_days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_days = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string two_digits(unsigned v) {
    return {static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
}

// Fixed-width decimal field; -1 if any character is not a digit.
int digits(std::string_view s) {
    if (s.empty()) return -1;
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

int index_of(std::string_view name, const auto& table) {
    for (std::size_t i = 0; i < table.size(); ++i)
        if (table[i] == name) return static_cast<int>(i);
    return -1;
}

struct Fields {
    int weekday = -1, day = -1, month = -1, year = -1, hour = -1, minute = -1, second = -1;
};

// "HH:MM:SS"
bool parse_time(std::string_view s, Fields& f) {
    if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
    f.hour = digits(s.substr(0, 2));
    f.minute = digits(s.substr(3, 2));
    f.second = digits(s.substr(6, 2));
    return f.hour >= 0 && f.minute >= 0 && f.second >= 0;
}

Result<std::uint64_t> to_seconds(const Fields& f) {
    if (f.year < 1970 || f.year > 9999 || f.hour > 23 || f.minute > 59 || f.second > 59 || f.month < 0 ||
        f.day < 1)
        return make_error("HTTP date out of range");
    const year_month_day ymd{year{f.year}, month{static_cast<unsigned>(f.month + 1)},
                             day{static_cast<unsigned>(f.day)}};
    if (!ymd.ok()) return make_error("HTTP date names a day that does not exist");
    const sys_days days{ymd};
    if (static_cast<int>(weekday{days}.c_encoding()) != f.weekday)
        return make_error("HTTP date has the wrong weekday");
    const auto secs =
        days.time_since_epoch().count() * 86400LL + f.hour * 3600LL + f.minute * 60LL + f.second;
    return static_cast<std::uint64_t>(secs);
}

}  // namespace

std::string format_http_date(std::uint64_t unix_seconds) {
    if (unix_seconds > max_http_date_seconds) unix_seconds = max_http_date_seconds;
    const sys_days days{std::chrono::days{static_cast<int>(unix_seconds / 86400)}};
    const year_month_day ymd{days};
    const unsigned secs = static_cast<unsigned>(unix_seconds % 86400);
    std::string out;
    out.reserve(29);
    out += short_days[weekday{days}.c_encoding()];
    out += ", ";
    out += two_digits(static_cast<unsigned>(ymd.day()));
    out += ' ';
    out += months[static_cast<unsigned>(ymd.month()) - 1];
    out += ' ';
    out += std::to_string(static_cast<int>(ymd.year()));
    out += ' ';
    out += two_digits(secs / 3600) + ':' + two_digits(secs / 60 % 60) + ':' + two_digits(secs % 60);
    out += " GMT";
    return out;
}

Result<std::uint64_t> parse_http_date(std::string_view s) {
    Fields f;
    if (s.size() == 29 && s[3] == ',') {
        // "Sun, 06 Nov 1994 08:49:37 GMT"
        if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s.substr(25) != " GMT")
            return make_error("malformed HTTP date");
        f.weekday = index_of(s.substr(0, 3), short_days);
        f.day = digits(s.substr(5, 2));
        f.month = index_of(s.substr(8, 3), months);
        f.year = digits(s.substr(12, 4));
        if (!parse_time(s.substr(17, 8), f)) return make_error("malformed HTTP date time");
    } else if (s.size() == 24 && s[3] == ' ') {
        // asctime: "Sun Nov  6 08:49:37 1994"
        if (s[7] != ' ' || s[10] != ' ' || s[19] != ' ') return make_error("malformed HTTP date");
        f.weekday = index_of(s.substr(0, 3), short_days);
        f.month = index_of(s.substr(4, 3), months);
        f.day = s[8] == ' ' ? digits(s.substr(9, 1)) : digits(s.substr(8, 2));
        if (!parse_time(s.substr(11, 8), f)) return make_error("malformed HTTP date time");
        f.year = digits(s.substr(20, 4));
    } else if (auto comma = s.find(','); comma != std::string_view::npos && comma >= 6 && comma <= 9) {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        f.weekday = index_of(s.substr(0, comma), long_days);
        std::string_view rest = s.substr(comma);
        if (rest.size() != 24 || rest[1] != ' ' || rest[4] != '-' || rest[8] != '-' || rest[11] != ' ' ||
            rest.substr(20) != " GMT")
            return make_error("malformed HTTP date");
        f.day = digits(rest.substr(2, 2));
        f.month = index_of(rest.substr(5, 3), months);
        const int yy = digits(rest.substr(9, 2));
        if (yy < 0) return make_error("malformed HTTP date year");
        f.year = yy < 70 ? 2000 + yy : 1900 + yy;  // two-digit years, as httpdate reads them
        if (!parse_time(rest.substr(12, 8), f)) return make_error("malformed HTTP date time");
    } else {
        return make_error("not an HTTP date");
    }
    if (f.weekday < 0 || f.month < 0 || f.day < 0 || f.year < 0) return make_error("malformed HTTP date");
    return to_seconds(f);
}

}  // namespace pkdns::pkarr
