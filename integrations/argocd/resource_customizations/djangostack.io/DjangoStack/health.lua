-- Argo CD health of a DjangoStack, read from the status the operator writes:
-- Healthy only when Ready is True for the current generation, Degraded when the stack is
-- Stalled (it needs a person) or its phase is Degraded, Progressing otherwise.
local health = { status = "Progressing", message = "waiting for the operator's first status" }
if obj.status == nil or obj.status.conditions == nil then
  return health
end

local function condition(kind)
  for _, found in ipairs(obj.status.conditions) do
    if found.type == kind then
      return found
    end
  end
  return nil
end

local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  health.message = "the operator has not yet observed generation " .. generation
  return health
end

local ready = condition("Ready")
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  health.status = "Degraded"
  health.message = stalled.reason .. ": " .. stalled.message
elseif obj.status.phase == "Degraded" then
  health.status = "Degraded"
  if ready ~= nil then
    health.message = ready.reason .. ": " .. ready.message
  else
    health.message = "phase Degraded"
  end
elseif ready ~= nil and ready.status == "True" then
  health.status = "Healthy"
  health.message = ready.message
elseif ready ~= nil then
  health.message = ready.reason .. ": " .. ready.message
end
return health
