// policy/engine.hpp's fleet file: the documented example parses, the writer round-trips, and each kind
// of bad input is refused with a message naming the record and the field.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

#include "policy/engine.hpp"

namespace custos::policy {
namespace {

namespace json = boost::json;

const std::string example = R"({"entities":[{"id":"acme","hq_country":"US","status":"uveu"}],
 "sites":[{"id":"fra-1","entity":"acme","country":"DE","lat":50.11,"lon":8.68}],
 "hosts":[{"id":"h1","site":"fra-1","gpus":[{"serial":"1654922006536","chip":"H100-SXM"}]}],
 "models":[{"id":"m1","closed_weights":true,"training_ops":2e26,"approved_sites":["fra-1"],"hosts":["h1"]}]})";

result<fleet> parse(const std::string& text) { return parse_fleet(text, chip_table::builtin()); }

std::string refusal(const std::string& text) {
    auto r = parse(text);
    return r ? std::string() : r.err().message;
}

// The example with `from` replaced by `to` (once).
std::string with(std::string from, std::string to) {
    std::string s = example;
    const auto at = s.find(from);
    if (at == std::string::npos) throw std::runtime_error("no " + from);
    return s.replace(at, from.size(), to);
}

void expect_equal(const fleet& a, const fleet& b) {
    ASSERT_EQ(a.entities.size(), b.entities.size());
    for (std::size_t i = 0; i < a.entities.size(); ++i) {
        EXPECT_EQ(a.entities[i].id, b.entities[i].id);
        EXPECT_EQ(a.entities[i].hq_country, b.entities[i].hq_country);
        EXPECT_EQ(a.entities[i].status, b.entities[i].status);
    }
    ASSERT_EQ(a.sites.size(), b.sites.size());
    for (std::size_t i = 0; i < a.sites.size(); ++i) {
        EXPECT_EQ(a.sites[i].id, b.sites[i].id);
        EXPECT_EQ(a.sites[i].entity, b.sites[i].entity);
        EXPECT_EQ(a.sites[i].country, b.sites[i].country);
        EXPECT_EQ(a.sites[i].lat, b.sites[i].lat);
        EXPECT_EQ(a.sites[i].lon, b.sites[i].lon);
    }
    ASSERT_EQ(a.hosts.size(), b.hosts.size());
    for (std::size_t i = 0; i < a.hosts.size(); ++i) {
        EXPECT_EQ(a.hosts[i].id, b.hosts[i].id);
        EXPECT_EQ(a.hosts[i].site, b.hosts[i].site);
        ASSERT_EQ(a.hosts[i].gpus.size(), b.hosts[i].gpus.size());
        for (std::size_t j = 0; j < a.hosts[i].gpus.size(); ++j) {
            EXPECT_EQ(a.hosts[i].gpus[j].serial, b.hosts[i].gpus[j].serial);
            EXPECT_EQ(a.hosts[i].gpus[j].chip, b.hosts[i].gpus[j].chip);
        }
    }
    ASSERT_EQ(a.models.size(), b.models.size());
    for (std::size_t i = 0; i < a.models.size(); ++i) {
        EXPECT_EQ(a.models[i].id, b.models[i].id);
        EXPECT_EQ(a.models[i].closed_weights, b.models[i].closed_weights);
        EXPECT_EQ(a.models[i].training_ops, b.models[i].training_ops);
        EXPECT_EQ(a.models[i].approved_sites, b.models[i].approved_sites);
        EXPECT_EQ(a.models[i].hosts, b.models[i].hosts);
    }
}

TEST(PolicyFleet, ExampleParses) {
    auto f = parse(example);
    ASSERT_TRUE(f.ok()) << f.err().message;
    ASSERT_EQ(f->entities.size(), 1u);
    EXPECT_EQ(f->entities[0].status, "uveu");
    ASSERT_EQ(f->sites.size(), 1u);
    EXPECT_EQ(f->sites[0].lat, 50.11);
    EXPECT_EQ(f->sites[0].lon, 8.68);
    ASSERT_EQ(f->hosts.size(), 1u);
    ASSERT_EQ(f->hosts[0].gpus.size(), 1u);
    EXPECT_EQ(f->hosts[0].gpus[0].chip, "H100-SXM");
    ASSERT_EQ(f->models.size(), 1u);
    EXPECT_EQ(f->models[0].training_ops, 2e26);
    EXPECT_TRUE(f->models[0].closed_weights);
}

TEST(PolicyFleet, RoundTrip) {
    const std::string bigger = R"({"entities":[{"id":"acme","hq_country":"US","status":"uveu"},{"id":"natco","hq_country":"IN","status":"nveu"},
      {"id":"small","hq_country":"BR","status":"none"}],
     "sites":[{"id":"fra-1","entity":"acme","country":"DE","lat":50.11,"lon":8.68},{"id":"bom","entity":"natco","country":"IN","lat":-19,"lon":-180},
      {"id":"gru","entity":"small","country":"BR","lat":90,"lon":180}],
     "hosts":[{"id":"h1","site":"fra-1","gpus":[{"serial":"1","chip":"H100-SXM"},{"serial":"2","chip":"unknown"}]},
      {"id":"h2","site":"bom","gpus":[]},{"id":"h3","site":"gru","gpus":[{"serial":"3","chip":"Ascend-910D"}]}],
     "models":[{"id":"m1","closed_weights":true,"training_ops":2e26,"approved_sites":["fra-1","bom"],"hosts":["h1","h2"]},
      {"id":"m2","closed_weights":false,"training_ops":0,"approved_sites":[],"hosts":[]}]})";
    for (const std::string& text : {example, bigger}) {
        auto a = parse(text);
        ASSERT_TRUE(a.ok()) << a.err().message;
        const std::string out = json::serialize(fleet_to_json(*a));
        auto b = parse(out);
        ASSERT_TRUE(b.ok()) << b.err().message << "\n" << out;
        expect_equal(*a, *b);
        EXPECT_EQ(json::serialize(fleet_to_json(*b)), out);
    }
}

// A model one ulp under 10^26 training operations stays under it through the fleet file and back.
TEST(PolicyFleet, TrainingOpsJustUnderTheThresholdStayUnderIt) {
    auto f = parse(with("2e26", "9.999999999999999e25"));
    ASSERT_TRUE(f.ok()) << f.err().message;
    EXPECT_LT(f->models[0].training_ops, 1e26);
    auto again = parse(json::serialize(fleet_to_json(*f)));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->models[0].training_ops, f->models[0].training_ops);
}

TEST(PolicyFleet, EmptyFleet) {
    auto f = parse(R"({"entities":[],"sites":[],"hosts":[],"models":[]})");
    ASSERT_TRUE(f.ok()) << f.err().message;
    EXPECT_TRUE(f->entities.empty());
}

TEST(PolicyFleet, Refusals) {
    struct bad_case {
        std::string text, want;
    };
    const std::vector<bad_case> cases = {
        {"{", "fleet file is not valid JSON"},
        {"[]", "fleet file: must be a JSON object"},
        {"", "not valid JSON"},
        {with(R"("status":"uveu")", R"("status":"uveu","status":"none")"), "duplicate field"},
        {with(R"("chip":"H100-SXM")", R"("chip":"H100")"),
         "fleet file: host \"h1\": gpu #0: field \"chip\" is \"H100\", which is not in the chip table"},
        {with(R"("chip":"H100-SXM")", R"("chip":"")"), "field \"chip\" must not be empty"},
        {with(R"("country":"DE")", R"("country":"Germany")"),
         "fleet file: site \"fra-1\": field \"country\" is \"Germany\", not an ISO 3166-1 alpha-2 country code"},
        {with(R"("country":"DE")", R"("country":"de")"), "not an ISO 3166-1 alpha-2"},
        {with(R"("hq_country":"US")", R"("hq_country":"UK")"), "entity \"acme\": field \"hq_country\" is \"UK\""},
        {with(R"("site":"fra-1")", R"("site":"fra-2")"),
         "fleet file: host \"h1\": field \"site\" names site \"fra-2\", which the fleet does not have"},
        {with(R"("hosts":["h1"])", R"("hosts":["h9"])"),
         "fleet file: model \"m1\": field \"hosts\" names host \"h9\", which the fleet does not have"},
        {with(R"("approved_sites":["fra-1"])", R"("approved_sites":["nowhere"])"), "names site \"nowhere\", which the fleet"},
        {with(R"("approved_sites":["fra-1"])", R"("approved_sites":["fra-1","fra-1"])"), "names site \"fra-1\" twice"},
        {with(R"("hosts":["h1"])", R"("hosts":[1])"), "field \"hosts\" must hold host ids"},
        {with(R"("entity":"acme")", R"("entity":"other")"), "site \"fra-1\": field \"entity\" names entity \"other\""},
        {with(R"("status":"uveu")", R"("status":"UVEU")"), "entity \"acme\": field \"status\" is \"UVEU\", not one of uveu, nveu, none"},
        {with(R"("status":"uveu")", R"("status":"veu")"), "not one of uveu, nveu, none"},
        {with(R"([{"id":"acme","hq_country":"US","status":"uveu"}])",
              R"([{"id":"acme","hq_country":"US","status":"uveu"},{"id":"acme","hq_country":"DE","status":"none"}])"),
         "fleet file: the entity id \"acme\" appears twice"},
        {with(R"({"serial":"1654922006536","chip":"H100-SXM"})",
              R"({"serial":"1654922006536","chip":"H100-SXM"},{"serial":"1654922006536","chip":"A100"})"),
         "GPU serial \"1654922006536\" appears twice"},
        {with(R"("lat":50.11)", R"("lat":90.5)"), "site \"fra-1\": field \"lat\" must be a latitude between -90 and 90"},
        {with(R"("lat":50.11)", R"("lat":-91)"), "latitude"},
        {with(R"("lon":8.68)", R"("lon":180.01)"), "field \"lon\" must be a longitude between -180 and 180"},
        {with(R"("lat":50.11)", R"("lat":"50.11")"), "field \"lat\" must be a number"},
        {with(R"("training_ops":2e26)", R"("training_ops":-1)"), "field \"training_ops\" must not be negative"},
        {with(R"("closed_weights":true)", R"("closed_weights":"yes")"), "field \"closed_weights\" must be true or false"},
        {with(R"("id":"h1",)", ""), "fleet file: host #0: field \"id\" is missing"},
        {with(R"(,"lat":50.11)", ""), "site \"fra-1\": field \"lat\" is missing"},
        {with(R"(,"gpus":[{"serial":"1654922006536","chip":"H100-SXM"}])", ""), "host \"h1\": field \"gpus\" is missing"},
        {with(R"("serial":"1654922006536",)", ""), "gpu #0: field \"serial\" is missing"},
        {with(R"(,"status":"uveu")", ""), "field \"status\" is missing"},
        {with(R"("id":"acme",)", R"("id":"",)"), "entity #0: field \"id\" must not be empty"},
        {with(R"("status":"uveu")", R"("status":"uveu","tier":1)"), "entity \"acme\": unknown field \"tier\""},
        {with(R"({"entities")", R"({"version":1,"entities")"), "fleet file: unknown field \"version\""},
        {R"({"entities":[],"sites":[],"hosts":[]})", "fleet file: field \"models\" is missing"},
        {R"({"entities":{},"sites":[],"hosts":[],"models":[]})", "field \"entities\" must be an array"},
        {R"({"entities":[1],"sites":[],"hosts":[],"models":[]})", "entity #0: must be a JSON object"},
    };
    for (const auto& c : cases) {
        const std::string e = refusal(c.text);
        EXPECT_NE(e.find(c.want), std::string::npos) << "want: " << c.want << "\ngot:  " << e << "\nfor: " << c.text;
    }
}

TEST(PolicyFleet, ChipsOfAnotherTable) {
    auto t = chip_table::parse("[[chip]]\nid = \"X1\"\nvendor = \"T\"\nnames = [\"X\"]\n", "x.toml");
    ASSERT_TRUE(t.ok()) << t.err().message;
    EXPECT_FALSE(parse_fleet(example, *t).ok());  // H100-SXM is not in this table
    EXPECT_TRUE(parse_fleet(with(R"("chip":"H100-SXM")", R"("chip":"X1")"), *t).ok());
}

}  // namespace
}  // namespace custos::policy
