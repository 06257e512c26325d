// Drives Pipedrive's official Node.js client (npm "pipedrive", pinned in package.json and
// package-lock.json, installed unmodified by `npm ci`) against a live Sales Inbox server.
//
// Configured exactly as the client's README shows: `new Configuration({ apiKey, basePath })`
// per API version; the client itself decides how to send the token (the x-api-token header)
// and how to build every request. This script only calls its methods and prints what they
// return, as JSON on stdout, for tests/api/test_pipedrive_node_client.py to check.
//
// Input (stdin, JSON): {"base": "http://host:port/api", "token": "...", "scenario": "...", "args": {...}}
// Output (stdout, JSON): {"ok": true, "results": {...}} or {"ok": false, "call": ..., "error": ...}

"use strict";

const v1 = require("pipedrive/v1");
const v2 = require("pipedrive/v2");

function clients(base, token) {
  const config1 = new v1.Configuration({ apiKey: token, basePath: `${base}/v1` });
  const config2 = new v2.Configuration({ apiKey: token, basePath: `${base}/v2` });
  return {
    mailbox: new v1.MailboxApi(config1),
    leads: new v1.LeadsApi(config1),
    deals1: new v1.DealsApi(config1),
    persons1: new v1.PersonsApi(config1),
    deals: new v2.DealsApi(config2),
    persons: new v2.PersonsApi(config2),
    organizations: new v2.OrganizationsApi(config2),
  };
}

class CallFailed extends Error {
  constructor(call, error) {
    super(`${call} failed`);
    this.call = call;
    this.error = error;
  }
}

// Each call is named so a failure says which one; rejections carry the server's body.
async function call(results, name, promise) {
  try {
    results[name] = await promise;
    return results[name];
  } catch (error) {
    throw new CallFailed(name, error instanceof Error ? { message: error.message } : error);
  }
}

// A call that must fail: its rejection (the server's error envelope) is the result.
async function refused(results, name, promise) {
  try {
    await promise;
  } catch (error) {
    results[name] = error instanceof Error ? { message: error.message } : error;
    return;
  }
  throw new CallFailed(name, { message: "succeeded, but should have been refused" });
}

const scenarios = {
  // Every read of the v1 mailbox: each folder's threads, a thread, its messages, one message
  // with its body.
  async mailbox(api, args, r) {
    for (const folder of ["inbox", "drafts", "sent", "archive"]) {
      await call(r, `threads_${folder}`, api.mailbox.getMailThreads({ folder, start: 0, limit: 50 }));
    }
    await call(r, "thread", api.mailbox.getMailThread({ id: args.thread_id }));
    const messages = await call(r, "messages", api.mailbox.getMailThreadMessages({ id: args.thread_id }));
    await call(r, "message", api.mailbox.getMailMessage({ id: messages.data[0].id, include_body: 1 }));
  },

  async archive(api, args, r) {
    await call(r, "archive", api.mailbox.updateMailThreadDetails({ id: args.thread_id, archived_flag: 1 }));
    await call(r, "threads_archive", api.mailbox.getMailThreads({ folder: "archive" }));
  },

  async unarchive(api, args, r) {
    await call(r, "unarchive", api.mailbox.updateMailThreadDetails({ id: args.thread_id, archived_flag: 0 }));
    await call(r, "threads_inbox", api.mailbox.getMailThreads({ folder: "inbox" }));
  },

  async delete(api, args, r) {
    await call(r, "delete", api.mailbox.deleteMailThread({ id: args.thread_id }));
    await refused(r, "thread_after_delete", api.mailbox.getMailThread({ id: args.thread_id }));
  },

  // v1 leads (Pipedrive keeps them on v1) and the mail linked to a deal and a person.
  async leads_and_record_mail(api, args, r) {
    await call(r, "leads", api.leads.getLeads({ limit: 10 }));
    await call(r, "lead", api.leads.getLead({ id: args.lead_id }));
    await call(r, "deal_mail", api.deals1.getDealMailMessages({ id: args.deal_id }));
    await call(r, "person_mail", api.persons1.getPersonMailMessages({ id: args.person_id }));
  },

  // Every v2 call served for deals, persons and organizations.
  async crm(api, args, r) {
    const org = await call(
      r,
      "add_organization",
      api.organizations.addOrganization({
        AddOrganizationRequest: { name: "Initech", address: { value: "1 Main St" } },
      }),
    );
    const person = await call(
      r,
      "add_person",
      api.persons.addPerson({
        AddPersonRequest: {
          name: "Peter Gibbons",
          org_id: org.data.id,
          emails: [{ value: args.person_email, primary: true, label: "work" }],
          phones: [{ value: "+1 555 0100", primary: true, label: "work" }],
        },
      }),
    );
    const deal = await call(
      r,
      "add_deal",
      api.deals.addDeal({
        AddDealRequest: {
          title: "TPS reports",
          value: 1500,
          currency: "USD",
          person_id: person.data.id,
          org_id: org.data.id,
        },
      }),
    );

    // Walk every deal one page at a time, as a sync job would.
    const titles = [];
    let cursor;
    for (let page = 0; page < 20; page += 1) {
      const reply = await call(r, `deals_page_${page}`, api.deals.getDeals({ limit: 1, cursor }));
      titles.push(...reply.data.map((d) => d.title));
      cursor = reply.additional_data.next_cursor;
      if (!cursor) break;
    }
    r.deal_titles_by_page = titles;

    await call(r, "get_deal", api.deals.getDeal({ id: deal.data.id }));
    await call(
      r,
      "update_deal",
      api.deals.updateDeal({ id: deal.data.id, UpdateDealRequest: { status: "won", value: 2000 } }),
    );
    await call(
      r,
      "deals_filtered",
      api.deals.getDeals({
        owner_id: args.owner_id,
        person_id: person.data.id,
        org_id: org.data.id,
        status: "won",
        updated_since: args.updated_since,
        sort_by: "update_time",
        sort_direction: "desc",
      }),
    );

    await call(r, "persons", api.persons.getPersons({ org_id: org.data.id }));
    await call(r, "persons_of_deal", api.persons.getPersons({ deal_id: deal.data.id }));
    await call(r, "get_person", api.persons.getPerson({ id: person.data.id }));
    await call(
      r,
      "update_person",
      api.persons.updatePerson({ id: person.data.id, UpdatePersonRequest: { name: "Peter G. Gibbons" } }),
    );

    await call(r, "organizations", api.organizations.getOrganizations({ sort_by: "add_time" }));
    await call(r, "get_organization", api.organizations.getOrganization({ id: org.data.id }));
    await call(
      r,
      "update_organization",
      api.organizations.updateOrganization({ id: org.data.id, UpdateOrganizationRequest: { name: "Initrode" } }),
    );

    await call(r, "delete_deal", api.deals.deleteDeal({ id: deal.data.id }));
    await call(r, "delete_person", api.persons.deletePerson({ id: person.data.id }));
    await call(r, "delete_organization", api.organizations.deleteOrganization({ id: org.data.id }));
    await refused(r, "get_deleted_deal", api.deals.getDeal({ id: deal.data.id }));
  },

  // A wrong token: the client's own rejection carries our 401 envelope.
  async wrong_token(api, args, r) {
    await refused(r, "deals", api.deals.getDeals({}));
    await refused(r, "threads", api.mailbox.getMailThreads({ folder: "inbox" }));
  },
};

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { base, token, scenario, args } = JSON.parse(input);
  const results = {};
  try {
    await scenarios[scenario](clients(base, token), args || {}, results);
    process.stdout.write(JSON.stringify({ ok: true, results }));
  } catch (error) {
    const failure = error instanceof CallFailed ? { call: error.call, error: error.error } : { error: String(error) };
    process.stdout.write(JSON.stringify({ ok: false, ...failure, results }));
    process.exitCode = 1;
  }
}

main();
