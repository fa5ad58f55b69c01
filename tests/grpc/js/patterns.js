// The seed patterns of @dapr/durabletask-js's README (chaining, fan-out/fan-in,
// human interaction with a timer), run unchanged against outlast's sidecar:
//   node patterns.js HOST:PORT
// Prints one JSON line per pattern with its status and output.
const { TaskHubGrpcClient, TaskHubGrpcWorker } = require("@dapr/durabletask-js");
const { whenAll, whenAny } = require("@dapr/durabletask-js/task");

function hello(ctx, name) {
  return `Hello ${name}!`;
}

const sequence = async function* (ctx) {
  const cities = [];
  cities.push(yield ctx.callActivity(hello, "Tokyo"));
  cities.push(yield ctx.callActivity(hello, "Seattle"));
  cities.push(yield ctx.callActivity(hello, "London"));
  return cities;
};

function getWorkItems(ctx, count) {
  return Array.from({ length: count }, (_, i) => `item-${i}`);
}

function processWorkItem(ctx, item) {
  return item.length;
}

const fanOutFanIn = async function* (ctx, count) {
  const workItems = yield ctx.callActivity(getWorkItems, count);
  const tasks = workItems.map((item) => ctx.callActivity(processWorkItem, item));
  const results = yield whenAll(tasks);
  return { workItems: workItems.length, total: results.reduce((a, b) => a + b, 0) };
};

function sendApprovalRequest(ctx, order) {
  return `approval requested for ${order.id}`;
}

function placeOrder(ctx, order) {
  return `placed ${order.id}`;
}

const purchaseOrder = async function* (ctx, order) {
  if (order.cost < 1000) {
    return "Auto-approved";
  }
  yield ctx.callActivity(sendApprovalRequest, order);
  const approvalEvent = ctx.waitForExternalEvent("approval_received");
  const timerEvent = ctx.createTimer(order.timeoutSeconds);
  const winner = yield whenAny([approvalEvent, timerEvent]);
  if (winner == timerEvent) {
    return "Canceled";
  }
  yield ctx.callActivity(placeOrder, order);
  const approvalDetails = approvalEvent.getResult();
  return `Approved by ${approvalDetails.approver}`;
};

async function main() {
  const address = process.argv[2];
  const worker = new TaskHubGrpcWorker(address);
  for (const o of [sequence, fanOutFanIn, purchaseOrder]) worker.addOrchestrator(o);
  for (const a of [hello, getWorkItems, processWorkItem, sendApprovalRequest, placeOrder]) {
    worker.addActivity(a);
  }
  await worker.start();
  const client = new TaskHubGrpcClient(address);
  const report = async (name, id) => {
    const state = await client.waitForOrchestrationCompletion(id, true, 60);
    console.log(JSON.stringify({
      pattern: name,
      id,
      status: state.runtimeStatus,
      output: state.serializedOutput,
      failure: state.failureDetails ? state.failureDetails.message : null,
    }));
  };
  await report("chaining", await client.scheduleNewOrchestration(sequence));
  await report("fan-out", await client.scheduleNewOrchestration(fanOutFanIn, 12));
  const approved = await client.scheduleNewOrchestration(purchaseOrder, {
    id: "o-1", cost: 2000, timeoutSeconds: 60,
  });
  await client.waitForOrchestrationStart(approved, false, 60);
  await client.raiseOrchestrationEvent(approved, "approval_received", { approver: "Ada" });
  await report("approval", approved);
  const canceled = await client.scheduleNewOrchestration(purchaseOrder, {
    id: "o-2", cost: 5000, timeoutSeconds: 1,
  });
  await report("timeout", canceled);
  await worker.stop();
  await client.stop();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
